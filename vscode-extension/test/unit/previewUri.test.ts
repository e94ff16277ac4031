import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
    decodePreviewQuery,
    encodePreviewUri,
    exportedMatches,
    JSON_PREVIEW,
    MLIR_PREVIEW,
    moduleName,
    PREVIEW_SCHEME,
    previewFileName,
    sameFileUri,
} from '../../src/previewUri';

describe('preview URIs', () => {
    it('names the preview like the exported file, in the source file’s folder', () => {
        const parts = encodePreviewUri({ uri: 'file:///work/kernels/matmul.py', kernel: 'matmul', example: 0 });
        assert.equal(parts.scheme, PREVIEW_SCHEME);
        assert.equal(parts.path, '/work/kernels/matmul.matmul.helion.json');
        assert.equal(previewFileName({ uri: 'file:///a/attn.py', kernel: 'fwd', example: 2 }), 'attn.fwd.2.helion.json');
        assert.equal(moduleName('file:///a/b/my%20mod.py'), 'my mod');
        assert.equal(moduleName('untitled:Untitled-1'), 'Untitled-1');
    });

    it('names the MLIR preview like the MLIR file beside the export, under a scheme of its own', () => {
        const target = { uri: 'file:///work/kernels/matmul.py', kernel: 'matmul', example: 0 };
        const parts = encodePreviewUri(target, MLIR_PREVIEW);
        assert.equal(parts.scheme, 'h2j-mlir-preview');
        assert.notEqual(parts.scheme, JSON_PREVIEW.scheme);
        assert.equal(parts.path, '/work/kernels/matmul.matmul.mlir');
        assert.equal(MLIR_PREVIEW.languageId, 'mlir');
        assert.equal(previewFileName({ uri: 'file:///a/attn.py', kernel: 'fwd', example: 2 }, MLIR_PREVIEW), 'attn.fwd.2.mlir');
        // The same target, whichever preview shows it.
        assert.equal(parts.query, encodePreviewUri(target).query);
        assert.deepEqual(decodePreviewQuery(parts.query), target);
    });

    it('round-trips the target through the query, whatever characters it has', () => {
        const targets = [
            { uri: 'file:///work/kernels/matmul.py', kernel: 'matmul', example: 0 },
            { uri: 'file:///c%3A/Users/me/a%20b%26c%3Fd%23e.py', kernel: 'k_ü', example: 3 },
            { uri: 'untitled:Untitled-1', kernel: 'x', example: 1 },
        ];
        for (const target of targets) {
            const { query } = encodePreviewUri(target);
            assert.match(query, /^[A-Za-z0-9_-]+$/, 'the query needs no URI escaping');
            assert.deepEqual(decodePreviewQuery(query), target);
        }
    });

    it('rejects queries that are not a preview target', () => {
        for (const query of ['', 'not base64 json', Buffer.from('{"uri":1}').toString('base64url'),
            Buffer.from('{"uri":"file:///a.py","kernel":"","example":0}').toString('base64url'),
            Buffer.from('{"uri":"file:///a.py","kernel":"k","example":-1}').toString('base64url'),
            Buffer.from('{"uri":"file:///a.py","kernel":"k","example":1.5}').toString('base64url'),
            Buffer.from('null').toString('base64url')]) {
            assert.equal(decodePreviewQuery(query), undefined, query);
        }
    });

    it('matches h2j/exported notifications to the preview they concern', () => {
        const target = { uri: 'file:///w/matmul.py', kernel: 'matmul', example: 1 };
        assert.ok(exportedMatches(target, { uri: 'file:///w/matmul.py', kernel: 'matmul', example: 1 }));
        assert.ok(exportedMatches(target, { uri: 'file:///w/matmul.py', kernel: 'matmul', example: null }));
        assert.ok(exportedMatches(target, { uri: 'file:///w/matmul.py' }));
        assert.ok(!exportedMatches(target, { uri: 'file:///w/matmul.py', kernel: 'matmul', example: 0 }));
        assert.ok(!exportedMatches(target, { uri: 'file:///w/matmul.py', kernel: 'other', example: 1 }));
        assert.ok(!exportedMatches(target, { uri: 'file:///w/other.py', kernel: 'matmul', example: 1 }));
        assert.ok(!exportedMatches(target, { kernel: 'matmul' }));
    });

    it('treats differently escaped spellings of one file URI as the same file', () => {
        assert.ok(sameFileUri('file:///c%3A/a%20b.py', 'file:///C:/a b.py'));
        assert.ok(sameFileUri('file:///w/a.py', 'file:///w/a.py'));
        assert.ok(!sameFileUri('file:///w/a.py', 'file:///w/b.py'));
    });
});
