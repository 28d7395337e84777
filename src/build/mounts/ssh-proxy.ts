import { chmod, chown, mkdtemp, rm, stat } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MountError } from './types.js';

/**
 * A per-step proxy of an ssh agent socket. The host's agent socket is never exposed itself: the step
 * gets a fresh socket with the mount's owner and mode (BuildKit's defaults: root, 0600), each
 * connection piped to the agent, and the proxy is gone when the step ends.
 */
export interface AgentProxy {
  /** The host path of the proxy socket, to bind-mount. */
  socket: string;
  close(): Promise<void>;
}

export async function startAgentProxy(agent: string, owner: { uid: number; gid: number; mode: number }): Promise<AgentProxy> {
  const st = await stat(agent).catch(() => undefined);
  if (!st) throw new MountError(`ssh agent socket ${agent} does not exist`);
  if (!st.isSocket()) throw new MountError(`${agent} is not an ssh agent socket (private key files are not supported: run ssh-agent and ssh-add)`);
  // Unix socket paths are limited to 108 bytes: keep it short, in the OS temp dir.
  const dir = await mkdtemp(join(tmpdir(), 'tsb-ssh-'));
  const socket = join(dir, 'agent.sock');
  const conns = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(agent);
    conns.add(client).add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      conns.delete(client);
      conns.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socket, () => resolve());
    });
    await chown(socket, owner.uid, owner.gid);
    await chmod(socket, owner.mode);
  } catch (e) {
    server.close();
    await rm(dir, { recursive: true, force: true });
    throw new MountError(`cannot forward ssh agent ${agent}: ${(e as Error).message}`);
  }
  let closed: Promise<void> | undefined;
  return {
    socket,
    close() {
      closed ??= (async () => {
        for (const c of conns) c.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await rm(dir, { recursive: true, force: true });
      })();
      return closed;
    },
  };
}
