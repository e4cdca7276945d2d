// A TCP echo service standing in for an appliance service.

import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export interface EchoServer {
  port: number;
  server: Server;
  sockets: Set<Socket>;
  close(): Promise<void>;
}

export async function startEchoServer(): Promise<EchoServer> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => sockets.delete(socket));
    socket.pipe(socket);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    port: (server.address() as AddressInfo).port,
    server,
    sockets,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((done) => server.close(done));
    },
  };
}
