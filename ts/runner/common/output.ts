/**
 * A program's stdout or stderr on the caller's side: the bytes as the
 * program wrote them (to a stream: a prompt without newline shows at once,
 * binary output stays binary), or each line to a callback (UTF-8, without
 * its newline; a last line without newline comes at the end).
 * @module
 */

export interface OutputSink {
  /** Each line, without its newline. */
  line?: (text: string) => void;
  /** The bytes as written. */
  bytes?: (data: Uint8Array) => void;
}

export class ProgramOutput {
  private readonly decoder = new TextDecoder();
  private partial = '';

  constructor(private readonly sink: OutputSink) {}

  write(data: Uint8Array): void {
    if (this.sink.bytes) {
      this.sink.bytes(data);
      return;
    }
    const lines = (this.partial + this.decoder.decode(data, { stream: true })).split('\n');
    this.partial = lines.pop()!;
    for (const line of lines) this.sink.line?.(line);
  }

  /** A whole line (Emscripten's own messages). */
  writeLine(text: string): void {
    this.write(new TextEncoder().encode(text + '\n'));
  }

  /** The program ended: a last line without newline is a line too. */
  end(): void {
    const rest = this.partial + this.decoder.decode();
    this.partial = '';
    if (rest && this.sink.line) this.sink.line(rest);
  }
}
