/** Decodes streamed bytes to text without splitting a multi-byte character across chunks. */
export class Utf8Stream {
  private readonly dec = new TextDecoder('utf-8');
  push(bytes: Uint8Array): string {
    return this.dec.decode(bytes, { stream: true });
  }
  end(): string {
    return this.dec.decode();
  }
}
