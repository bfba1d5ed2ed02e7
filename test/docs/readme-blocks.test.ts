import { extractBlocks } from './readme-blocks';

describe('extractBlocks', () => {
  test('finds each fenced block with its language, first code line and heading', () => {
    const md = [
      '# Title', // 1
      '## Usage', // 2
      '```ts', // 3
      'const a = 1;', // 4
      '```', // 5
      'text', // 6
      '~~~sh', // 7
      'npm i', // 8
      '~~~', // 9
      '### Other ##', // 10
      '````typescript title="x"', // 11
      '```', // 12: inside a longer fence, not a fence of its own
      '````', // 13
      '```', // 14
      'plain', // 15
    ].join('\n');
    expect(extractBlocks(md)).toEqual([
      { lang: 'ts', code: 'const a = 1;', line: 4, heading: 'Usage' },
      { lang: 'sh', code: 'npm i', line: 8, heading: 'Usage' },
      { lang: 'typescript', code: '```', line: 12, heading: 'Other' },
      // An unclosed fence runs to the end; a bare fence has no language.
      { lang: '', code: 'plain', line: 15, heading: 'Other' },
    ]);
  });

  test('a heading-like line inside a block is code, not a heading', () => {
    const blocks = extractBlocks('## A\n```sh\n# a comment\n```\n```ts\nx\n```');
    expect(blocks.map((b) => b.heading)).toEqual(['A', 'A']);
  });
});
