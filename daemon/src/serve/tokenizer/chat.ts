import type { ChatPart, Tokenizer } from './types.js';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/**
 * Chat formats rendered as text parts and special tokens: a user's text is always encoded as text, so it cannot
 * forge a turn boundary. The GGUF's Jinja template is not executed; it names the format by the tokens it uses.
 */
export type ChatFormat = 'llama3' | 'chatml' | 'bitnet' | 'plain';

export interface ChatTemplate {
  format: ChatFormat;
  /** Why this format: read from the file, or the fallback and why. */
  note: string;
  /** The prompt's token ids, BOS included where the format or the file wants it, ending where the reply starts. */
  render(messages: readonly ChatMessage[]): number[];
}

const NEEDS: Record<ChatFormat, string[]> = {
  llama3: ['<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>'],
  chatml: ['<|im_start|>', '<|im_end|>'],
  bitnet: ['<|eot_id|>'],
  plain: [],
};

function detect(template: string | undefined): ChatFormat | undefined {
  if (template === undefined) return 'plain';
  if (template.includes('<|start_header_id|>')) return 'llama3';
  if (template.includes('<|im_start|>')) return 'chatml';
  if (template.includes('Assistant: ') && template.includes('<|eot_id|>')) return 'bitnet';
  return undefined;
}

const ROLE_TITLE = { system: 'System', user: 'User', assistant: 'Assistant' } as const;

function parts(format: ChatFormat, messages: readonly ChatMessage[]): ChatPart[] {
  const out: ChatPart[] = [];
  switch (format) {
    case 'llama3':
      for (const m of messages)
        out.push(
          { special: '<|start_header_id|>' },
          { text: m.role },
          { special: '<|end_header_id|>' },
          { text: `\n\n${m.content.trim()}` },
          { special: '<|eot_id|>' },
        );
      out.push({ special: '<|start_header_id|>' }, { text: 'assistant' }, { special: '<|end_header_id|>' }, { text: '\n\n' });
      return out;
    case 'chatml':
      for (const m of messages)
        out.push({ special: '<|im_start|>' }, { text: `${m.role}\n${m.content}` }, { special: '<|im_end|>' }, { text: '\n' });
      out.push({ special: '<|im_start|>' }, { text: 'assistant\n' });
      return out;
    case 'bitnet':
      for (const m of messages) out.push({ text: `${ROLE_TITLE[m.role]}: ${m.content}` }, { special: '<|eot_id|>' });
      out.push({ text: 'Assistant: ' });
      return out;
    case 'plain':
      return [{ text: `${messages.map((m) => `${m.role}: ${m.content}`).join('\n')}\nassistant:` }];
  }
}

/** The chat format for a model: from its tokenizer.chat_template when we know it, else the plain one (and why). */
export function chatTemplateFor(tok: Tokenizer, template: string | undefined): ChatTemplate {
  let format = detect(template);
  let note = template === undefined ? 'the file has no chat template' : `from the file's chat template`;
  if (format === undefined) {
    format = 'plain';
    note = "the file's chat template is not one this server renders (llama3, chatml, bitnet)";
  }
  const missing = NEEDS[format].filter((t) => tok.idOf(t) === undefined);
  if (missing.length > 0) {
    note = `the vocabulary lacks ${missing.join(', ')} that the ${format} format needs`;
    format = 'plain';
  }
  const f = format;
  const bosPart: ChatPart[] = f === 'llama3' && tok.idOf('<|begin_of_text|>') !== undefined ? [{ special: '<|begin_of_text|>' }] : [];
  const bos = bosPart.length === 0 && tok.addBos && tok.bos !== undefined ? [tok.bos] : [];
  return {
    format: f,
    note,
    render: (messages) => [...bos, ...tok.encodeParts([...bosPart, ...parts(f, messages)])],
  };
}

/** A completion prompt's ids: BOS when the file asks for it, then the text (special-token texts stay text). */
export function encodePrompt(tok: Tokenizer, text: string): number[] {
  return [...(tok.addBos && tok.bos !== undefined ? [tok.bos] : []), ...tok.encode(text)];
}
