// A raw client connection for tests of the listener's connection cap: it records what it receives
// and whether it closed (a reclaimed or refused socket may be reset: `closed` says it either way),
// and optionally sends one request as soon as it connects.

import net from "node:net";

export interface CappedClient {
  socket: net.Socket;
  received: string;
  closed: boolean;
}

/** Connects to 127.0.0.1:`port`; with `request`, sends one GET for host cap.test at once. */
export function connectCapped(port: number, request = true): Promise<CappedClient> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    const c: CappedClient = { socket, received: "", closed: false };
    socket.setEncoding("utf8");
    socket.on("data", (d: string) => {
      c.received += d;
    });
    socket.on("close", () => {
      c.closed = true;
    });
    socket.on("error", () => {});
    socket.once("connect", () => {
      if (request) socket.write("GET / HTTP/1.1\r\nhost: cap.test\r\n\r\n");
      resolve(c);
    });
    socket.once("error", reject);
  });
}
