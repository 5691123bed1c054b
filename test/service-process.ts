import { ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { ADMIN_KEY } from './test-app';

const MAIN = join(__dirname, '..', 'dist', 'src', 'main.js');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** A compiled service process (`npm test` builds dist/ first), listening on loopback. */
export class ServiceProcess {
  private constructor(
    readonly proc: ChildProcess,
    readonly url: string,
    readonly output: string[],
  ) {}

  static async start(env: Record<string, string | undefined>): Promise<ServiceProcess> {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run 'npm run build' (npm test does it)`);
    const port = await freePort();
    const output: string[] = [];
    const proc = spawn(process.execPath, [MAIN], {
      env: {
        PATH: process.env.PATH,
        HOST: '127.0.0.1',
        PORT: String(port),
        BOOTSTRAP_ADMIN_KEY: ADMIN_KEY,
        LOG_LEVEL: 'warn',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc.stdout!.on('data', (d) => output.push(String(d)));
    proc.stderr!.on('data', (d) => output.push(String(d)));
    const sp = new ServiceProcess(proc, `http://127.0.0.1:${port}`, output);
    // 40 s: a loaded CI box (other jobs on its 2 cores) has taken over 20 s to boot one process.
    // The callers' timeouts (60-90 s) leave room for two boots one after the other.
    const deadline = Date.now() + 40_000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) throw new Error(`service exited with ${proc.exitCode}:\n${output.join('')}`);
      try {
        const r = await fetch(`${sp.url}/health`);
        if (r.status === 200) return sp;
      } catch {
        /* not listening yet */
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    proc.kill('SIGKILL');
    throw new Error(`service did not become healthy:\n${output.join('')}`);
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}
