/**
 * A local stand-in for an AWS endpoint the function has no network path to:
 * a TCP connection to it never completes, like a SYN dropped by a VPC with no
 * NAT and no VPC endpoint (not refused: a refusal fails at once and proves
 * nothing about timeouts).
 *
 * A listening socket whose accept queue is full makes the kernel drop further
 * SYNs, so connect() hangs. Node accepts every connection itself, so a small
 * Python process holds the socket (any python3 will do; moto's is found the
 * same way).
 */
import { ChildProcess, spawn } from 'child_process';
import { findMotoPython } from './moto-server';

export interface UnreachableEndpoint {
  /** `http://127.0.0.1:<port>`, for AWS_ENDPOINT_URL. */
  readonly endpoint: string;
  readonly port: number;
  stop(): Promise<void>;
}

// Backlog 0, then fill the queue with connections nobody accepts: every later connect() stays in SYN_SENT.
const SCRIPT = `
import socket, sys
s = socket.socket()
s.bind(('127.0.0.1', 0))
s.listen(0)
port = s.getsockname()[1]
held = []
for _ in range(4):
    c = socket.socket()
    c.setblocking(False)
    try:
        c.connect(('127.0.0.1', port))
    except BlockingIOError:
        pass
    held.append(c)
print(port, flush=True)
sys.stdin.read()
`;

export async function startUnreachableEndpoint(): Promise<UnreachableEndpoint> {
  const child: ChildProcess = spawn(findMotoPython(), ['-c', SCRIPT], { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the unreachable-endpoint helper exited with ${code} before listening`)));
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const line = out.split('\n')[0];
      if (out.includes('\n')) resolve(Number(line));
    });
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    // Closing stdin ends the script; kill is the backstop.
    stop: async () => {
      child.stdin!.end();
      await new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        const timer = setTimeout(() => child.kill('SIGKILL'), 2_000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}
