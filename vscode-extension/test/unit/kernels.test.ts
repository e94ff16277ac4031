import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chooseKernel, kernelAtPosition, kernelsFromSymbols } from '../../src/kernels';

const range = (sl: number, sc: number, el: number, ec: number) => ({ start: { line: sl, character: sc }, end: { line: el, character: ec } });

// 0  import helion
// 1
// 2  # h2j: args(torch.randn(4, 8))
// 3  @helion.kernel
// 4  def add(x):
// 5      ...
// 6
// 7  def helper(): ...
// 8
// 9  # a comment
// 10 # h2j: args(torch.randn(4))
// 11 @helion.kernel()
// 12 def mul(x):
// 13     ...
const SOURCE = [
    'import helion',
    '',
    '# h2j: args(torch.randn(4, 8))',
    '@helion.kernel',
    'def add(x):',
    '    ...',
    '',
    'def helper(): ...',
    '',
    '# a comment',
    '# h2j: args(torch.randn(4))',
    '@helion.kernel()',
    'def mul(x):',
    '    ...',
];
const lineText = (line: number) => SOURCE[line];

const documentSymbols = [
    { name: 'mul', kind: 12, range: range(11, 0, 13, 7), selectionRange: range(12, 4, 12, 7), detail: 'helion kernel', children: [] },
    { name: 'add', kind: 12, range: range(3, 0, 5, 7), selectionRange: range(4, 4, 4, 7) },
    { name: 'SOME_CONST', kind: 14, range: range(0, 0, 0, 5), selectionRange: range(0, 0, 0, 5) },
];

describe('kernels from document symbols', () => {
    it('keeps function symbols, sorted by position, from DocumentSymbol[]', () => {
        const kernels = kernelsFromSymbols(documentSymbols);
        assert.deepEqual(kernels.map((k) => k.name), ['add', 'mul']);
        assert.equal(kernels[1].detail, 'helion kernel');
        assert.deepEqual(kernels[0].selectionRange, range(4, 4, 4, 7));
    });

    it('reads SymbolInformation[] too, skipping nested ones', () => {
        const kernels = kernelsFromSymbols([
            { name: 'add', kind: 12, location: { uri: 'file:///a.py', range: range(3, 0, 5, 7) } },
            { name: 'inner', kind: 12, containerName: 'add', location: { uri: 'file:///a.py', range: range(5, 4, 5, 7) } },
        ]);
        assert.deepEqual(kernels.map((k) => [k.name, k.selectionRange.start.line]), [['add', 3]]);
    });

    it('survives garbage', () => {
        assert.deepEqual(kernelsFromSymbols(null), []);
        assert.deepEqual(kernelsFromSymbols([null, 1, {}, { name: 'x', kind: 12 }, { name: 'y', kind: 12, range: { start: {} } }]), []);
    });
});

describe('kernel at the cursor', () => {
    const kernels = kernelsFromSymbols(documentSymbols);
    const at = (line: number, character = 0) => kernelAtPosition(kernels, { line, character }, lineText)?.name;

    it('picks the kernel whose range holds the cursor', () => {
        assert.equal(at(4, 6), 'add');
        assert.equal(at(5, 7), 'add');
        assert.equal(at(12), 'mul');
    });

    it('picks the kernel below when the cursor is on its # h2j: comments or decorators', () => {
        assert.equal(at(2, 10), 'add');
        assert.equal(at(9), 'mul');
        assert.equal(at(10, 3), 'mul');
    });

    it('picks none elsewhere', () => {
        assert.equal(at(0), undefined);
        assert.equal(at(1), undefined, 'a blank line separates it from the kernel');
        assert.equal(at(7), undefined);
        assert.equal(kernelAtPosition(kernels, { line: 2, character: 0 }), undefined, 'no text: no comment lookup');
    });

    it('uses the cursor, the only kernel, or asks', () => {
        assert.deepEqual(chooseKernel([], { line: 0, character: 0 }), { kind: 'none' });
        const one = chooseKernel(kernels.slice(0, 1), { line: 13, character: 0 }, lineText);
        assert.equal(one.kind === 'kernel' && one.kernel.name, 'add');
        const atCursor = chooseKernel(kernels, { line: 12, character: 0 }, lineText);
        assert.equal(atCursor.kind === 'kernel' && atCursor.kernel.name, 'mul');
        const ask = chooseKernel(kernels, { line: 7, character: 0 }, lineText);
        assert.deepEqual(ask.kind === 'pick' && ask.kernels.map((k) => k.name), ['add', 'mul']);
        assert.equal(chooseKernel(kernels, undefined).kind, 'pick');
    });
});
