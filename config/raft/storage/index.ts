// Public surface of the durable log store.
export { StorageCorruptError, StorageError, type StorageErrorCode } from "./errors.js";
export { FileStorage, type FileStorageOptions, type InitialState } from "./file-storage.js";
export { isNoDescriptor } from "./no-descriptor.js";
export { countingFs, nodeStorageFs, type StorageFs } from "./storage-fs.js";
