// Re-export for proxy/forward/ (another issue's engine is being rewritten there): the config
// file's schema lives in config/file/schema.ts. New code imports that path.
export * from "./file/schema.js";
