import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';

/** A loopback JSON-RPC proxy in front of anvil that can refuse every request or drop answers to sent transactions. */
export class RpcProxy {
  mode: 'up' | 'down' | 'drop-after-send' = 'up';
  sent = 0;
  private server: Server | undefined;
  private sockets = new Set<Socket>();
  url = '';
  constructor(private readonly target: string) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        if (this.mode === 'down') return void req.socket.destroy();
        const body = Buffer.concat(chunks).toString('utf8');
        const isSend = body.includes('eth_sendRawTransaction');
        const upstream = await fetch(this.target, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        const text = await upstream.text();
        if (isSend) this.sent++;
        if (isSend && this.mode === 'drop-after-send') {
          this.mode = 'down'; // the transaction reached the chain; the node never hears back and the RPC stays down
          return void req.socket.destroy();
        }
        res.writeHead(upstream.status, { 'content-type': 'application/json' }).end(text);
      });
    });
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    const a = this.server.address() as { port: number };
    this.url = `http://127.0.0.1:${a.port}`;
  }

  setMode(m: RpcProxy['mode']): void {
    this.mode = m;
    if (m === 'down') for (const s of this.sockets) s.destroy();
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server?.close(() => r()) ?? r());
  }
}
