import * as net from 'net';

/**
 * Ask the kernel for an unused TCP port on 127.0.0.1.
 *
 * There is an unavoidable race between closing this probe socket and the caller binding the port
 * (another jest worker may grab it), so callers that start servers should retry on EADDRINUSE.
 */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('freePort: could not read the bound port'));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}
