// End-to-end: the packaged extension in a real VS Code (code-server), driven by headless
// Chromium, against the real language server (`python -m h2j_lsp` from H2J_PYTHON).
// Run through scripts/vscode-e2e.sh, which installs code-server and Chromium and sets the
// environment; screenshots and logs of a failure land in vscode-extension/test-results/.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Ajv2020 from 'ajv/dist/2020.js';
import { REPO_ROOT, RESULTS_DIR, sleep, startVSCode, waitFor } from './harness.mjs';

const PYTHON = process.env.H2J_PYTHON ?? join(REPO_ROOT, '.venv', 'bin', 'python');
const SCHEMA = join(REPO_ROOT, 'helion2json', 'schema', 'helion2json.schema.json');
// scripts/vscode-e2e.sh --update-screenshot points this at docs/preview.png.
const SCREENSHOT = process.env.H2J_PREVIEW_SCREENSHOT ?? join(RESULTS_DIR, 'preview.png');

const GOOD_DIRECTIVE = '# h2j: args(torch.randn(4, 8), torch.randn(8, 4))';
// The kernel of examples/matmul.py, with its directive's closing parenthesis missing.
const KERNEL = `"""Tiled matrix multiplication with an fp32 accumulator."""

from __future__ import annotations

import helion
import helion.language as hl
import torch


${GOOD_DIRECTIVE.slice(0, -1)}
@helion.kernel(static_shapes=True)
def matmul(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    m, k = x.size()
    k2, n = y.size()
    assert k == k2, f"size mismatch {k} != {k2}"
    out = torch.empty([m, n], dtype=torch.promote_types(x.dtype, y.dtype), device=x.device)
    for tile_m, tile_n in hl.tile([m, n]):
        acc = hl.zeros([tile_m, tile_n], dtype=torch.float32)
        for tile_k in hl.tile(k):
            acc = torch.addmm(acc, x[tile_m, tile_k], y[tile_k, tile_n])
        out[tile_m, tile_n] = acc
    return out
`;
const DIRECTIVE_LINE = KERNEL.split('\n').findIndex((l) => l.startsWith('# h2j:')) + 1; // 1-based
const BIGGER_DIRECTIVE = '# h2j: args(torch.randn(16, 32), torch.randn(32, 16))';
const FIXED_KERNEL = KERNEL.replace(GOOD_DIRECTIVE.slice(0, -1), GOOD_DIRECTIVE);

// A schema violation on line 1: `version` must be the integer 1.
const BROKEN_JSON = '{"version": "one", "module": {"name": "m", "funcs": []}}\n';

const h2jSettings = (extra = {}) => ({ 'h2j.interpreter': [PYTHON], 'h2j.debounceMs': 200, ...extra });

const h2jErrors = (problems) => problems.filter((p) => p.source === 'h2j' && p.severity === 'error');

/** Run `body` with a started VS Code; keep a screenshot and the logs when it fails. */
async function withVSCode(options, body) {
    const started = Date.now();
    const vscode = await startVSCode(options);
    vscode.step = (what) => console.log(`[${options.name}] ${((Date.now() - started) / 1000).toFixed(1)} s: ${what}`);
    vscode.step('VS Code is up');
    let failed = true;
    try {
        await body(vscode);
        failed = false;
        await vscode.screenshot(`${options.name}-end`); // the final state, for the CI artifacts
    } finally {
        await vscode.close({ failed });
    }
}

function validator() {
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    return ajv.compile(JSON.parse(readFileSync(SCHEMA, 'utf8')));
}

// Each test starts its own code-server: ~10 s, then the first export imports torch and helion.
const TEST = { timeout: 240_000 };

describe('H2J in VS Code', () => {
    it('shows a directive error, clears it when fixed in the editor, previews and exports the kernel', TEST, async () => {
        await withVSCode({ name: 'trusted', files: { 'matmul.py': KERNEL, 'broken.helion.json': BROKEN_JSON }, settings: h2jSettings() }, async (vscode) => {
            const { page } = vscode;
            await vscode.openFile('matmul.py');

            // 1. The malformed directive is an error at its line in the Problems panel.
            const error = await waitFor('the directive error in the Problems panel', async () =>
                h2jErrors(await vscode.problems()).find((p) => p.line === DIRECTIVE_LINE), { timeoutMs: 60_000 });
            assert.match(error.message, /malformed args/);
            assert.equal(error.column, 12, 'at the parse error’s column');
            await page.waitForSelector('.squiggly-error');

            vscode.step('the directive error is in the Problems panel');

            // 2. Fix it in the editor (select the line, type the fixed directive, save): the error goes.
            await vscode.replaceLine(DIRECTIVE_LINE, GOOD_DIRECTIVE);
            await vscode.save();
            await waitFor('the directive error to disappear', async () =>
                !h2jErrors(await vscode.problems()).some((p) => p.line === DIRECTIVE_LINE), { timeoutMs: 30_000 });
            await waitFor('the editor to save exactly the fixed file', () =>
                readFileSync(join(vscode.workspace, 'matmul.py'), 'utf8') === FIXED_KERNEL, { timeoutMs: 10_000 });

            vscode.step('fixed and saved: the error is gone');

            // 3. The server's "Preview JSON" code lens opens the kernel's JSON beside it.
            const tab = page.locator('.tabs-container .tab', { hasText: 'matmul.matmul.helion.json' });
            const preview = page.locator('.editor-group-container').nth(1).locator('.monaco-editor').first();
            const previewShows = (what, pattern, timeoutMs = 120_000) =>
                waitFor(what, async () => {
                    const shown = await vscode.visibleText(preview);
                    return pattern.test(shown) ? shown : undefined;
                }, { timeoutMs });
            await page.locator('.codelens-decoration a', { hasText: 'Preview JSON' }).first().click({ timeout: 60_000 });
            await tab.waitFor({ state: 'visible', timeout: 30_000 });
            let text = await previewShows('hl.tile.begin in the preview (code lens)', /"op": "hl\.tile\.begin"/);
            assert.match(text, /"op": "hl\.tile\.begin", "iters": \["m", "n"\], "sizes": \[4, 4\]/);
            assert.match(text, /"torch\.addmm"/);
            assert.deepEqual(h2jErrors(await vscode.problems()), [], 'the fixed kernel exports without errors');
            await preview.locator('.view-lines').click();
            await vscode.runCommand('View: Close Editor');
            await tab.waitFor({ state: 'detached', timeout: 10_000 });

            vscode.step('the code lens opened the preview');

            // 4. H2J: Preview JSON from the command palette, with the cursor on the kernel's directive.
            await page.locator('.editor-group-container').first().locator('.monaco-editor .view-lines').first().click();
            await vscode.goToLine(DIRECTIVE_LINE);
            await vscode.runCommand('H2J: Preview JSON');
            await tab.waitFor({ state: 'visible', timeout: 30_000 });
            await previewShows('hl.tile.begin in the preview (command)', /"op": "hl\.tile\.begin"/);

            vscode.step('the command opened the preview');

            // 5. The preview follows the editor: other example shapes give other block sizes.
            await vscode.replaceLine(DIRECTIVE_LINE, BIGGER_DIRECTIVE);
            text = await previewShows('the preview to update to the new shapes', /"sizes": \[16, 16\]/, 60_000);
            assert.match(text, /"op": "hl\.tile\.begin", "iters": \["k"\], "sizes": \[16\]/);
            await vscode.save();

            vscode.step('the preview followed the edit');

            // A screenshot of the preview beside the kernel, for the docs.
            await vscode.goToLine(DIRECTIVE_LINE + 3);
            await vscode.runCommand('View: Hide Panel');
            await vscode.runCommand('View: Toggle Primary Side Bar Visibility');
            await page.setViewportSize({ width: 1680, height: 900 });
            await sleep(1500); // let the code lenses, inlay hints and status bar settle
            mkdirSync(join(SCREENSHOT, '..'), { recursive: true });
            await vscode.screenshot('preview', SCREENSHOT);

            // 5b. The "Preview MLIR" code lens opens the kernel function's MLIR beside it, lowered by the server.
            const mlirTab = page.locator('.tabs-container .tab', { hasText: 'matmul.matmul.mlir' });
            await page.locator('.codelens-decoration a', { hasText: 'Preview MLIR' }).first().click({ timeout: 60_000 });
            await mlirTab.waitFor({ state: 'visible', timeout: 30_000 });
            text = await previewShows('func.func in the MLIR preview (code lens)', /func\.func @matmul\(/);
            assert.match(text, /^module \{/);
            assert.doesNotMatch(text, /H2J: exporting and lowering/, 'the kernel lowers');

            vscode.step('the code lens opened the MLIR preview');

            // 6. H2J: Export Kernel to JSON writes a file under helion-json/ that the JSON Schema accepts.
            await vscode.runCommand('H2J: Export Kernel to JSON');
            const outDir = join(vscode.workspace, 'helion-json');
            const files = await waitFor('an exported file under helion-json/', () =>
                existsSync(outDir) && readdirSync(outDir).filter((f) => f.endsWith('.helion.json')), { timeoutMs: 90_000 });
            assert.deepEqual(files, ['matmul.matmul.helion.json']);
            const exported = JSON.parse(readFileSync(join(outDir, files[0]), 'utf8'));
            const validate = validator();
            assert.ok(validate(exported), `schema errors: ${JSON.stringify(validate.errors, null, 1)}`);
            assert.equal(exported.module.funcs[0].name, 'matmul');
            assert.ok(exported.module.funcs[0].body.some((op) => op.op === 'hl.tile.begin'));
            await waitFor('the export notification', async () =>
                (await vscode.notifications()).some((n) => n.includes('exported matmul')), { timeoutMs: 15_000 });

            vscode.step('exported and validated');

            // 7. The server's "Verify" code lens runs the kernel's JSON in the reference interpreter
            //    and compares it with the kernel: the notification says it matches, the lens says so too.
            await page.locator('.editor-group-container').first().locator('.monaco-editor .view-lines').first().click();
            await vscode.goToLine(DIRECTIVE_LINE);
            await page.locator('.codelens-decoration a', { hasText: /^Verify/ }).first().click({ timeout: 60_000 });
            const verified = await waitFor('the verify notification', async () =>
                (await vscode.notifications()).find((n) => /verified matmul|verify of matmul/.test(n)), { timeoutMs: 120_000 });
            assert.match(verified, /H2J: verified matmul: the JSON matches the /);
            await page.locator('.codelens-decoration a', { hasText: 'Verify ✓ pass' }).first().waitFor({ timeout: 30_000 });
            assert.deepEqual(h2jErrors(await vscode.problems()), [], 'a kernel that verifies has no verify diagnostic');

            vscode.step('verified through the code lens');

            // 8. *.helion.json files are checked against the schema that the extension contributes.
            await vscode.quickOpen('broken.helion.json');
            const schemaProblem = await waitFor('a schema warning on broken.helion.json', async () =>
                (await vscode.problems()).find((p) => p.source === 'json' || /Incorrect type|not accepted|Value is not/i.test(p.message)), { timeoutMs: 30_000 });
            assert.equal(schemaProblem.line, 1);
        });
    });

    it('exports nothing in an untrusted workspace, and says why', TEST, async () => {
        await withVSCode(
            { name: 'untrusted', trusted: false, files: { 'matmul.py': FIXED_KERNEL }, settings: h2jSettings() },
            async (vscode) => {
                await vscode.openFile('matmul.py');
                const why = await waitFor('an explanation that the workspace is not trusted', async () => {
                    const status = (await vscode.statusBarText()) ?? '';
                    const problem = (await vscode.problems()).find((p) => p.source === 'h2j' && /trust|restricted/i.test(p.message));
                    return problem?.message ?? (/untrusted/.test(status) ? status : undefined);
                }, { timeoutMs: 60_000 });
                console.log(`untrusted workspace: ${why}`);

                await vscode.runCommand('H2J: Export Kernel to JSON');
                await waitFor('the Restricted Mode message', async () =>
                    (await vscode.notifications()).some((n) => /Restricted Mode/.test(n)), { timeoutMs: 15_000 });
                await sleep(3000);
                assert.equal(existsSync(join(vscode.workspace, 'helion-json')), false, 'nothing was exported');
            },
        );
    });

    it('says how to install the server when the interpreter lacks it', TEST, async () => {
        // -I -S: the same Python without its site-packages, so h2j_lsp is not importable.
        const settings = h2jSettings({ 'h2j.interpreter': [PYTHON, '-I', '-S'] });
        await withVSCode({ name: 'not-installed', files: { 'matmul.py': FIXED_KERNEL }, settings }, async (vscode) => {
            await vscode.openFile('matmul.py');
            const message = await waitFor('the not-installed message', async () =>
                (await vscode.notifications()).find((n) => n.includes('No module named h2j_lsp')), { timeoutMs: 30_000 });
            assert.match(message, /Install with: pip install 'helion2json\[lsp\]'/);
            assert.match((await vscode.statusBarText()) ?? '', /not installed/);
            await vscode.page.locator('.notification-toast').getByRole('button', { name: 'Open Settings' }).click();
            await vscode.page.locator('.settings-editor').waitFor({ state: 'visible', timeout: 15_000 });
            await vscode.page.locator('.settings-editor .setting-item-contents', { hasText: 'Interpreter' }).first().waitFor({ timeout: 15_000 });

            // Pointing h2j.interpreter at a Python that has the server restarts it.
            writeFileSync(vscode.userSettingsFile, JSON.stringify({ ...vscode.userSettings, 'h2j.interpreter': [PYTHON] }, null, 2));
            const status = await waitFor('the server to run with the new interpreter', async () => {
                const text = (await vscode.statusBarText()) ?? '';
                return /H2J: local (idle|exporting|starting)/.test(text) ? text : undefined;
            }, { timeoutMs: 60_000 });
            console.log(`after fixing h2j.interpreter: ${status.trim()}`);
        });
    });
});
