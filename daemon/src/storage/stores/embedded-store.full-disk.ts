// Child process of the disk-full test: stores a 1 MiB shard under a file-size limit and prints the error.
import { randomBytes } from 'node:crypto';
import { EmbeddedStore } from './embedded-store.js';

const store = new EmbeddedStore(process.argv[2]!);
await store.init();
try {
  await store.put(randomBytes(1 << 20));
  process.stdout.write(JSON.stringify({ code: 'NONE', message: 'the write succeeded' }));
} catch (err) {
  const e = err as { code?: string; message?: string };
  process.stdout.write(JSON.stringify({ code: e.code, message: e.message }));
}
