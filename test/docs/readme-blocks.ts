/** A fenced code block of a Markdown document. */
export interface CodeBlock {
  /** The info string's first word (`ts`, `text`, ...), '' for a bare fence. */
  readonly lang: string;
  readonly code: string;
  /** 1-based line of the block's first code line in the document. */
  readonly line: number;
  /** The nearest heading above the block, without its #s. */
  readonly heading: string;
}

/** Languages the snippet check compiles. */
export const TYPESCRIPT = ['ts', 'typescript'];

/**
 * Every fenced block (``` or ~~~, at most 3 spaces of indent, as CommonMark has it),
 * in document order. An unclosed fence runs to the end of the document.
 */
export function extractBlocks(markdown: string): CodeBlock[] {
  const lines = markdown.split('\n');
  const blocks: CodeBlock[] = [];
  let heading = '';
  for (let i = 0; i < lines.length; i++) {
    const open = /^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)/.exec(lines[i]);
    if (!open) {
      const h = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(lines[i]);
      if (h) heading = h[1];
      continue;
    }
    const fence = open[1];
    const close = new RegExp(`^ {0,3}${fence[0]}{${fence.length},}\\s*$`);
    const start = i + 1;
    let end = start;
    while (end < lines.length && !close.test(lines[end])) end++;
    blocks.push({ lang: open[2].toLowerCase(), code: lines.slice(start, end).join('\n'), line: start + 1, heading });
    i = end;
  }
  return blocks;
}
