// Drive a real VS Code (code-server) with headless Chromium through playwright-core.
//
// Environment (scripts/vscode-e2e.sh sets all of them):
//   H2J_CODE_SERVER  code-server's out/node/entry.js (run with this Node)
//   H2J_VSIX         the packaged extension
//   H2J_PYTHON       the Python that runs `python -m h2j_lsp`
//   CHROMIUM         Chromium's executable (default /usr/bin/chromium)
//   H2J_E2E_KEEP=1   keep the temporary folders
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const EXTENSION_ROOT = resolve(here, '..', '..');
export const REPO_ROOT = process.env.H2J_REPO_ROOT ?? resolve(EXTENSION_ROOT, '..');
export const RESULTS_DIR = join(EXTENSION_ROOT, 'test-results');

function required(name) {
    const value = process.env[name];
    if (!value) {
        throw new Error(`${name} is not set: run the end-to-end test through scripts/vscode-e2e.sh`);
    }
    return value;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Poll `fn` until it returns a truthy value; fail with `what` after `timeoutMs`. */
export async function waitFor(what, fn, { timeoutMs = 30_000, intervalMs = 250 } = {}) {
    const deadline = Date.now() + timeoutMs;
    let last;
    for (;;) {
        try {
            const value = await fn();
            if (value) {
                return value;
            }
            last = value;
        } catch (error) {
            last = error;
        }
        if (Date.now() > deadline) {
            const detail = last instanceof Error ? last.message : JSON.stringify(last);
            throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${detail})`);
        }
        await sleep(intervalMs);
    }
}

async function freePort() {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address();
    server.close();
    await once(server, 'close');
    return port;
}

/** A quiet, deterministic workbench: no tips, no telemetry, no auto-closing brackets, no suggestions. */
export function quietSettings({ trusted }) {
    return {
        'security.workspace.trust.enabled': !trusted,
        'security.workspace.trust.startupPrompt': 'never',
        'security.workspace.trust.untrustedFiles': 'open',
        'workbench.startupEditor': 'none',
        'workbench.tips.enabled': false,
        'workbench.enableExperiments': false,
        'workbench.secondarySideBar.defaultVisibility': 'hidden',
        'workbench.editor.enablePreview': false,
        'workbench.colorTheme': 'Default Light Modern',
        'telemetry.telemetryLevel': 'off',
        'update.mode': 'none',
        'extensions.autoUpdate': false,
        'extensions.autoCheckUpdates': false,
        'extensions.ignoreRecommendations': true,
        'chat.disableAIFeatures': true,
        'git.enabled': false,
        'files.autoSave': 'off',
        'editor.minimap.enabled': false,
        'editor.autoClosingBrackets': 'never',
        'editor.autoClosingQuotes': 'never',
        'editor.autoSurround': 'never',
        'editor.autoIndent': 'none',
        'editor.formatOnType': false,
        'editor.quickSuggestions': { other: 'off', comments: 'off', strings: 'off' },
        'editor.suggestOnTriggerCharacters': false,
        'editor.acceptSuggestionOnEnter': 'off',
        'editor.parameterHints.enabled': false,
        'editor.hover.enabled': false,
        'editor.lightbulb.enabled': 'off',
        'editor.stickyScroll.enabled': false,
        'editor.fontSize': 13,
        'window.commandCenter': false,
    };
}

/**
 * Start code-server on a fresh workspace with the extension installed, and open it in Chromium.
 * `files`: workspace-relative path → content. `settings`: user settings added to the quiet ones.
 */
export async function startVSCode({ name, files = {}, settings = {}, trusted = true }) {
    const codeServer = required('H2J_CODE_SERVER');
    const vsix = required('H2J_VSIX');
    const tmp = mkdtempSync(join(tmpdir(), `h2j-e2e-${name}-`));
    const workspace = join(tmp, 'workspace');
    const userData = join(tmp, 'user-data');
    const extensions = join(tmp, 'extensions');
    const xdg = { XDG_CONFIG_HOME: join(tmp, 'xdg', 'config'), XDG_DATA_HOME: join(tmp, 'xdg', 'data'), XDG_CACHE_HOME: join(tmp, 'xdg', 'cache') };
    for (const dir of [workspace, join(userData, 'User'), extensions, ...Object.values(xdg)]) {
        mkdirSync(dir, { recursive: true });
    }
    for (const [path, content] of Object.entries(files)) {
        mkdirSync(dirname(join(workspace, path)), { recursive: true });
        writeFileSync(join(workspace, path), content);
    }
    const userSettingsFile = join(userData, 'User', 'settings.json');
    const userSettings = { ...quietSettings({ trusted }), ...settings };
    writeFileSync(userSettingsFile, JSON.stringify(userSettings, null, 2));
    const config = join(tmp, 'config.yaml');
    writeFileSync(config, 'auth: none\ncert: false\n');
    const env = { ...process.env, ...xdg, EXTENSIONS_GALLERY: '{}', HOME: process.env.HOME ?? tmp };
    const common = ['--config', config, '--user-data-dir', userData, '--extensions-dir', extensions];

    const install = spawnSync(process.execPath, [codeServer, ...common, '--install-extension', vsix], { env, encoding: 'utf8', timeout: 60_000 });
    if (install.status !== 0) {
        throw new Error(`code-server --install-extension failed (${install.status}):\n${install.stdout}\n${install.stderr}`);
    }

    const port = await freePort();
    const args = [
        codeServer,
        ...common,
        '--bind-addr', `127.0.0.1:${port}`,
        '--auth', 'none',
        '--disable-telemetry',
        '--disable-update-check',
        '--disable-getting-started-override',
        ...(trusted ? ['--disable-workspace-trust'] : []),
        workspace,
    ];
    const log = [];
    const server = spawn(process.execPath, args, { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    server.stdout.on('data', (d) => log.push(d.toString()));
    server.stderr.on('data', (d) => log.push(d.toString()));
    const exited = once(server, 'exit');

    const stopServer = async () => {
        if (server.exitCode === null && server.signalCode === null) {
            try {
                process.kill(-server.pid, 'SIGTERM'); // its whole process group: file watcher, extension host, our LSP server
            } catch {
                // already gone
            }
            await Promise.race([exited, sleep(5000)]);
            try {
                process.kill(-server.pid, 'SIGKILL');
            } catch {
                // already gone
            }
        }
    };

    let browser;
    try {
        const url = `http://127.0.0.1:${port}`;
        await waitFor('code-server /healthz', async () => {
            if (server.exitCode !== null) {
                throw new Error(`code-server exited (${server.exitCode}): ${log.join('').slice(-2000)}`);
            }
            const response = await fetch(`${url}/healthz`).catch(() => undefined);
            return response?.ok;
        }, { timeoutMs: 60_000 });

        browser = await chromium.launch({
            executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
            headless: true,
            env: { ...process.env, ...xdg },
            args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
        });
        const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
        const page = await context.newPage();
        await page.goto(`${url}/?folder=${encodeURIComponent(workspace)}`);
        await page.waitForSelector('.monaco-workbench', { timeout: 60_000 });
        await page.waitForSelector('.explorer-folders-view .monaco-list-row', { timeout: 60_000 });

        const vscode = new VSCode(page, { workspace, tmp, log, name });
        vscode.userSettingsFile = userSettingsFile;
        vscode.userSettings = userSettings;
        vscode.close = async ({ failed = false } = {}) => {
            if (failed) {
                await vscode.screenshot(`${name}-failure`).catch(() => undefined);
                mkdirSync(RESULTS_DIR, { recursive: true });
                writeFileSync(join(RESULTS_DIR, `${name}-code-server.log`), log.join(''));
            }
            await browser.close().catch(() => undefined);
            await stopServer();
            if (process.env.H2J_E2E_KEEP === '1' || failed) {
                console.log(`kept ${tmp}`);
            } else {
                rmSync(tmp, { recursive: true, force: true });
            }
        };
        return vscode;
    } catch (error) {
        mkdirSync(RESULTS_DIR, { recursive: true });
        writeFileSync(join(RESULTS_DIR, `${name}-code-server.log`), log.join(''));
        await browser?.close().catch(() => undefined);
        await stopServer();
        throw error;
    }
}

export class VSCode {
    constructor(page, { workspace, tmp, log, name }) {
        this.page = page;
        this.workspace = workspace;
        this.tmp = tmp;
        this.log = log;
        this.name = name;
    }

    async screenshot(name, path) {
        const file = path ?? join(RESULTS_DIR, `${name}.png`);
        mkdirSync(dirname(file), { recursive: true });
        await this.page.screenshot({ path: file });
        return file;
    }

    /** Open a workspace file by clicking its row in the Explorer. */
    async openFile(name) {
        const row = this.page.locator('.explorer-folders-view .monaco-list-row', { hasText: name }).first();
        await row.click();
        await this.page.waitForSelector(`.tabs-container .tab[aria-label*="${name}"]`, { timeout: 30_000 });
        await this.page.locator('.editor-group-container.active .monaco-editor .view-lines').first().click();
    }

    /** Open a workspace file through Quick Open (Ctrl+P). */
    async quickOpen(name) {
        const page = this.page;
        await page.keyboard.press('Control+P');
        const input = page.locator('.quick-input-widget input');
        await input.waitFor({ state: 'visible' });
        await input.fill(name);
        await page.locator('.quick-input-widget .monaco-list-row', { hasText: name }).first().waitFor({ state: 'visible', timeout: 15_000 });
        await page.keyboard.press('Enter');
        await page.waitForSelector(`.tabs-container .tab[aria-label*="${name}"]`, { timeout: 30_000 });
    }

    /** Run a command by its title through the command palette (F1). */
    async runCommand(title) {
        const page = this.page;
        await page.keyboard.press('F1');
        const input = page.locator('.quick-input-widget input');
        await input.waitFor({ state: 'visible' });
        await input.fill(`>${title}`);
        // The row whose label is exactly the title (others may contain it: "Close Editor Group").
        const rows = page.locator('.quick-input-widget .monaco-list-row');
        const index = await waitFor(`"${title}" in the command palette`, async () => {
            const labels = await rows.evaluateAll((els) => els.map((el) => el.querySelector('.label-name')?.textContent?.trim() ?? ''));
            const found = labels.indexOf(title);
            return found >= 0 ? found + 1 : undefined;
        }, { timeoutMs: 15_000 });
        await rows.nth(index - 1).click();
        await input.waitFor({ state: 'hidden', timeout: 10_000 }).catch(() => undefined);
    }

    /** Move the cursor of the active editor to a 1-based line (Go to Line). */
    async goToLine(line) {
        const page = this.page;
        await page.keyboard.press('Control+G');
        const input = page.locator('.quick-input-widget input');
        await input.waitFor({ state: 'visible' });
        await input.fill(`:${line}`);
        await page.keyboard.press('Enter');
        await input.waitFor({ state: 'hidden', timeout: 10_000 }).catch(() => undefined);
    }

    /** Select the whole current line's text (Home, Shift+End) and type a replacement. */
    async replaceLine(line, text) {
        const page = this.page;
        await this.goToLine(line);
        await page.keyboard.press('End');
        await page.keyboard.press('Shift+Home');
        await page.keyboard.press('Shift+Home'); // twice: from the first non-blank to the column 1
        await page.keyboard.type(text, { delay: 5 });
    }

    async save() {
        await this.page.keyboard.press('Control+S');
    }

    /** The Problems panel's rows as {severity, message, line, column, source}. */
    async problems() {
        const page = this.page;
        if (!(await page.locator('.markers-panel').isVisible().catch(() => false))) {
            await page.keyboard.press('Control+Shift+M');
            await page.locator('.markers-panel').waitFor({ state: 'visible', timeout: 10_000 });
        }
        const labels = await page.locator('.markers-panel .monaco-list-row').evaluateAll((rows) => rows.map((r) => r.getAttribute('aria-label') ?? ''));
        return labels.map(parseMarker).filter((m) => m !== undefined);
    }

    /** Text of the notification toasts currently shown. */
    async notifications() {
        return this.page.locator('.notification-toast .notification-list-item-message').allInnerTexts();
    }

    /** The H2J status bar item's text. */
    async statusBarText() {
        const item = this.page.locator('.statusbar-item[id="helion2json.h2j.h2j.status"], .statusbar-item[id$="h2j.status"]').first();
        return (await item.count()) ? item.innerText() : undefined;
    }

    /** Text lines that the editor in the given group shows (rendered lines only). */
    async visibleText(editorLocator) {
        return (await editorLocator.locator('.view-lines .view-line').allInnerTexts()).join('\n').replace(/\u00a0/g, ' ');
    }
}

/** "Error: MESSAGE at line 7 and character 30. generated by h2j" → fields. */
export function parseMarker(label) {
    const m = /^(Error|Warning|Info|Information|Hint)\s*:?\s*([\s\S]*?) at line (\d+) and character (\d+)\.?\s*(?:generated by (.*))?$/.exec(label.trim());
    if (!m) {
        return undefined;
    }
    return { severity: m[1].toLowerCase(), message: m[2], line: Number(m[3]), column: Number(m[4]), source: (m[5] ?? '').trim() };
}
