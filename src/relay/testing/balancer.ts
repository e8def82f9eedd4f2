/**
 * A TCP load balancer for tests that run several relay replicas, standing in for the one an
 * operator puts in front of them (HAProxy, nginx stream, a cloud balancer). Each new connection
 * goes to the next backend in turn; a backend that refuses the connection is skipped for the
 * next. When a backend dies, the connections it held close, and the client's reconnection lands
 * on a live one. Loopback only.
 */
import net from 'node:net';

export interface Backend {
  host: string;
  port: number;
}

export interface Balancer {
  readonly port: number;
  readonly url: string;
  /** Connections accepted per backend (by `host:port`), for tests that want traffic spread. */
  readonly served: Map<string, number>;
  close(): Promise<void>;
}

const name = (b: Backend) => `${b.host}:${b.port}`;

export async function startBalancer(backends: Backend[], host = '127.0.0.1'): Promise<Balancer> {
  if (!backends.length) throw new Error('a balancer needs at least one backend');
  let next = 0;
  const served = new Map<string, number>();
  const open = new Set<net.Socket>();

  /** Connects to the backends in turn from `next`, trying each once; null when none answers. */
  const connectAny = (): Promise<{ socket: net.Socket; backend: Backend } | null> =>
    new Promise((resolve) => {
      let tried = 0;
      const attempt = () => {
        if (tried++ >= backends.length) return resolve(null);
        const backend = backends[next++ % backends.length];
        const socket = net.connect(backend.port, backend.host);
        socket.once('connect', () => {
          socket.removeAllListeners('error');
          resolve({ socket, backend });
        });
        socket.once('error', () => {
          socket.destroy();
          attempt();
        });
      };
      attempt();
    });

  const server = net.createServer((client) => {
    open.add(client);
    client.pause();
    client.on('error', () => client.destroy());
    client.on('close', () => open.delete(client));
    void connectAny().then((up) => {
      if (!up || client.destroyed) {
        up?.socket.destroy();
        client.destroy();
        return;
      }
      const { socket, backend } = up;
      served.set(name(backend), (served.get(name(backend)) ?? 0) + 1);
      open.add(socket);
      socket.on('close', () => {
        open.delete(socket);
        client.destroy();
      });
      socket.on('error', () => socket.destroy());
      client.on('close', () => socket.destroy());
      client.pipe(socket);
      socket.pipe(client);
      client.resume();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: `http://${host}:${port}`,
    served,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}
