// TextEncoder, TextDecoder, structuredClone and console formatting.
const encoder = new TextEncoder();
const decoder = new TextDecoder();

const bytes = encoder.encode('h\u00e9\u20ac\u{1d11e}');
console.log('encode:', Array.from(bytes).join(' '));
console.log('decode:', decoder.decode(bytes));
console.log('subarray:', decoder.decode(bytes.subarray(1, 3)));
console.log('lone surrogate:', Array.from(encoder.encode('\ud800')).join(' '));
console.log('bom and invalid:', JSON.stringify(decoder.decode(new Uint8Array([0xef, 0xbb, 0xbf, 0x41, 0xff, 0x42]))));
try {
    new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array([0xc3]));
} catch (error) {
    console.log('fatal:', error.name);
}
const streaming = new TextDecoder();
console.log('stream:', streaming.decode(new Uint8Array([0xe2, 0x82]), { stream: true }) +
                           streaming.decode(new Uint8Array([0xac])));
const target = new Uint8Array(4);
console.log('encodeInto:', JSON.stringify(encoder.encodeInto('a\u20acb', target)), target.join(' '));

const original = { list: [1, { b: 2 }], date: new Date(0), map: new Map([[1, 'one']]) };
original.self = original;
const copy = structuredClone(original);
console.log('clone:', copy !== original, copy.self === copy, copy.map.get(1), copy.date.toISOString());
try {
    structuredClone({ f() {} });
} catch (error) {
    console.log('clone function:', error.name);
}

console.log({ a: 1, b: 'text', c: [1, 2], d: { e: { f: { g: 1 } } } });
console.log('%s is %d years old', 'Ada', 36, 'extra');
console.log(new Map([['k', 'v']]), new Set([1]), null, undefined, -0, 10n);
console.error('this line goes to stderr');
