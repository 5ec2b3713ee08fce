import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

const PART = /^(node-[0-9a-f]{16})-([0-9a-f]{64})\.part$/;

/**
 * The staging directory of PutBlob: one `<sender>-<sha256>.part` file per upload in progress or cut short (a sender
 * resumes from its size). Nothing here lives forever: a part untouched for `timeoutMs` is deleted by `sweep`, and
 * the idle parts of a sender count against its byte quota (`usage`) until then.
 */
export class StagingArea {
  private readonly busy = new Set<string>();

  constructor(
    readonly dir: string,
    private readonly timeoutMs: number,
  ) {}

  /** The staging file of one sender's upload of one blob (so two senders never write the same file). */
  path(sender: string, sha256: string): string {
    return join(this.dir, `${sender}-${sha256}.part`);
  }

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
  }

  /** Bytes staged for (sender, sha256): where a resumed upload continues. */
  async size(sender: string, sha256: string): Promise<number> {
    try {
      return (await stat(this.path(sender, sha256))).size;
    } catch {
      return 0;
    }
  }

  /** Marks an upload in flight; false when the same sender already uploads the same blob. */
  claim(sender: string, sha256: string): (() => void) | undefined {
    const key = `${sender}-${sha256}`;
    if (this.busy.has(key)) return undefined;
    this.busy.add(key);
    return () => void this.busy.delete(key);
  }

  /** Bytes of the idle parts (not in flight) of `sender`, and of everyone. */
  async usage(sender: string): Promise<{ peer: number; all: number }> {
    let peer = 0;
    let all = 0;
    for (const f of await this.files()) {
      if (this.busy.has(`${f.sender}-${f.sha256}`)) continue;
      all += f.size;
      if (f.sender === sender) peer += f.size;
    }
    return { peer, all };
  }

  /** Deletes parts untouched for the timeout (and anything else that is not a part); returns what went. */
  async sweep(now: number): Promise<{ files: number; bytes: number }> {
    let files = 0;
    let bytes = 0;
    for (const name of await readdir(this.dir).catch(() => [] as string[])) {
      const m = PART.exec(name);
      if (m && this.busy.has(`${m[1]}-${m[2]}`)) continue;
      const file = join(this.dir, name);
      const s = await stat(file).catch(() => undefined);
      if (!s || (m && now - s.mtimeMs < this.timeoutMs)) continue;
      await rm(file, { force: true, recursive: true });
      files++;
      bytes += s.size;
    }
    return { files, bytes };
  }

  private async files(): Promise<{ sender: string; sha256: string; size: number }[]> {
    const out: { sender: string; sha256: string; size: number }[] = [];
    for (const name of await readdir(this.dir).catch(() => [] as string[])) {
      const m = PART.exec(name);
      if (!m) continue;
      const s = await stat(join(this.dir, name)).catch(() => undefined);
      if (s) out.push({ sender: m[1] as string, sha256: m[2] as string, size: s.size });
    }
    return out;
  }
}
