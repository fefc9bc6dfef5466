// A generic gRPC service for proxy tests, with @grpc/grpc-js on both sides and Buffer
// (de)serializers (no proto compiler): Unary echoes with the server id, ServerStream sends N
// replies, ClientStream joins what it got, Bidi echoes each message, Slow answers after SLOW_MS,
// Fail answers NOT_FOUND. Every reply carries trailing metadata `x-served-by`.

import {
  Client,
  credentials,
  Metadata,
  type MethodDefinition,
  Server,
  ServerCredentials,
  type ServiceDefinition,
  status,
} from "@grpc/grpc-js";

const ident = (b: Buffer): Buffer => b;

/**
 * When Slow answers: far past any deadline a test gives it, so "answered by the deadline" and
 * "answered by the upstream" stay apart even when a loaded machine delays the deadline's answer
 * by seconds (it was 3 s, against a 400 ms deadline and a 2.5 s bound).
 */
export const SLOW_MS = 10_000;

function method(
  name: string,
  requestStream: boolean,
  responseStream: boolean,
): MethodDefinition<Buffer, Buffer> {
  return {
    path: `/shardgate.test.Echo/${name}`,
    requestStream,
    responseStream,
    requestSerialize: ident,
    requestDeserialize: ident,
    responseSerialize: ident,
    responseDeserialize: ident,
  };
}

export const ECHO_SERVICE = {
  Unary: method("Unary", false, false),
  ServerStream: method("ServerStream", false, true),
  ClientStream: method("ClientStream", true, false),
  Bidi: method("Bidi", true, true),
  Slow: method("Slow", false, false),
  Fail: method("Fail", false, false),
} as const satisfies ServiceDefinition;

export interface GrpcEcho {
  id: string;
  port: number;
  calls: number;
  /** Per call with a deadline: ms left on it when the call arrived (grpc-js turns grpc-timeout into the deadline). */
  deadlinesLeft: number[];
  close(): Promise<void>;
}

export async function startGrpcEcho(id: string): Promise<GrpcEcho> {
  const server = new Server();
  const echo: GrpcEcho = {
    id,
    port: 0,
    calls: 0,
    deadlinesLeft: [],
    close: () => new Promise<void>((r) => server.tryShutdown(() => r())).then(() => server.forceShutdown()),
  };
  const trailer = (): Metadata => {
    const md = new Metadata();
    md.set("x-served-by", id);
    return md;
  };
  const seen = (call: object): void => {
    echo.calls++;
    const d = (call as { getDeadline(): Date | number }).getDeadline();
    const at = d instanceof Date ? d.getTime() : d;
    if (Number.isFinite(at)) echo.deadlinesLeft.push(at - Date.now());
  };
  // biome-ignore lint/suspicious/noExplicitAny: grpc-js handler types are per call kind
  const handlers: Record<string, any> = {
    Unary: (
      call: { request: Buffer; metadata: Metadata; getDeadline(): Date | number },
      cb: (e: null, v: Buffer, md: Metadata) => void,
    ) => {
      seen(call);
      cb(null, Buffer.from(`${id}:${call.request.toString()}`), trailer());
    },
    ServerStream: (call: {
      request: Buffer;
      metadata: Metadata;
      write(b: Buffer): void;
      end(md: Metadata): void;
    }) => {
      seen(call);
      const n = Number(call.request.toString());
      for (let i = 0; i < n; i++) call.write(Buffer.from(`${id}:${i}`));
      call.end(trailer());
    },
    ClientStream: (
      call: {
        metadata: Metadata;
        getDeadline(): Date | number;
        on(ev: string, fn: (b?: Buffer) => void): void;
      },
      cb: (e: null, v: Buffer, md: Metadata) => void,
    ) => {
      seen(call);
      const got: string[] = [];
      call.on("data", (b) => got.push(String(b)));
      call.on("end", () => cb(null, Buffer.from(`${id}:${got.join(",")}`), trailer()));
    },
    Bidi: (call: {
      metadata: Metadata;
      on(ev: string, fn: (b?: Buffer) => void): void;
      write(b: Buffer): void;
      end(md: Metadata): void;
    }) => {
      seen(call);
      call.on("data", (b) => call.write(Buffer.from(`${id}:${String(b)}`)));
      call.on("end", () => call.end(trailer()));
    },
    Slow: (call: { metadata: Metadata; getDeadline(): Date | number }, cb: (e: null, v: Buffer) => void) => {
      seen(call);
      setTimeout(() => cb(null, Buffer.from("late")), SLOW_MS).unref();
    },
    Fail: (
      call: { metadata: Metadata; getDeadline(): Date | number },
      cb: (e: { code: number; details: string }) => void,
    ) => {
      seen(call);
      cb({ code: status.NOT_FOUND, details: `no such thing on ${id}` });
    },
  };
  server.addService(ECHO_SERVICE, handlers);
  echo.port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, port) =>
      err === null ? resolve(port) : reject(err),
    ),
  );
  return echo;
}

/** A grpc-js client of the echo service at 127.0.0.1:`port` (plaintext h2c). */
export function echoClient(port: number): Client {
  return new Client(`127.0.0.1:${port}`, credentials.createInsecure());
}

/**
 * One unary echo call to 127.0.0.1:`port` with metadata `header: value`, resolved with the
 * call's final status (never rejected: a refused call is a status too).
 */
export function unaryStatus(
  port: number,
  header: string,
  value: string,
  body = "hello",
): Promise<{ code: number; details: string }> {
  const client = echoClient(port);
  const meta = new Metadata();
  meta.set(header, value);
  const ident = (b: Buffer): Buffer => b;
  return new Promise((resolve) => {
    const call = client.makeUnaryRequest(
      ECHO_SERVICE.Unary.path,
      ident,
      ident,
      Buffer.from(body),
      meta,
      { deadline: Date.now() + 20_000 },
      () => undefined,
    );
    call.on("status", (st) => {
      client.close();
      resolve({ code: st.code, details: st.details });
    });
  });
}
