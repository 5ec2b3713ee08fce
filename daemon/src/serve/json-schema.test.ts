import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiError } from './errors.js';
import { compileJsonSchema } from './json-schema.js';

const hex = (s: string) => Buffer.from(s).toString('hex');

describe('JSON schema for JSON mode', () => {
  it('compiles objects, arrays, enums and scalars into one node per line, properties in declared order', () => {
    const text = compileJsonSchema({
      type: 'object',
      title: 'ignored annotation',
      properties: {
        name: { type: 'string', description: 'who' },
        tags: { type: 'array', items: { enum: ['a', 'b'] } },
        age: { type: 'integer' },
      },
      required: ['name', 'tags'],
      additionalProperties: false,
    });
    assert.equal(
      text,
      [
        `object 3 ${hex('name')} 1 1 ${hex('tags')} 2 1 ${hex('age')} 4 0`,
        'string',
        'array 3',
        `enum 2 ${hex('a')} ${hex('b')}`,
        'integer',
      ].join('\n'),
    );
  });

  it('refuses what it cannot enforce, naming the keyword and where it is', () => {
    const refused: Array<[unknown, RegExp]> = [
      [
        { type: 'object', properties: { a: { anyOf: [{ type: 'string' }] } } },
        /at \$\.properties\.a: the keyword 'anyOf' is not supported/,
      ],
      [
        { type: 'object', properties: { a: { type: 'string', pattern: '^x' } } },
        /at \$\.properties\.a: the keyword 'pattern' is not supported/,
      ],
      [{ type: 'object', additionalProperties: true }, /additionalProperties: only false/],
      [{ type: 'object', properties: { a: { type: ['string', 'null'] } } }, /a list of types is not supported/],
      [{ type: 'array', items: { type: 'string' } }, /the root must be \{type: 'object'\}/],
      [{ type: 'object', properties: { a: { type: 'string' } }, required: ['b'] }, /required: must list names of the properties/],
      [{ type: 'object', properties: { a: { enum: [1, 2] } } }, /only a non-empty list of strings/],
    ];
    for (const [schema, msg] of refused)
      assert.throws(
        () => compileJsonSchema(schema),
        (e: unknown) => e instanceof ApiError && e.status === 400 && e.param === 'response_format' && msg.test(e.message),
        String(msg),
      );
  });
});
