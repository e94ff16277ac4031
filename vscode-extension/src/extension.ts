// H2J for VS Code: a thin client of the h2j language server (`python -m h2j_lsp`).
import * as path from 'node:path';
import * as vscode from 'vscode';
import { DocumentSymbolRequest, type LanguageClient } from 'vscode-languageclient/node';
import { chooseKernel, type Kernel, kernelsFromSymbols } from './kernels';
import { openPreview, type PreviewFetcher, PreviewProvider, type PreviewResult } from './preview';
import { MLIR_PREVIEW, type PreviewTarget } from './previewUri';
import { onDidChangeInterpreter } from './pythonExtension';
import { ServerManager, showStartProblem } from './server';
import { changeNeedsRestart } from './settings';
import { parseStatus, presentClientState, presentStatus, type StatusPresentation } from './status';

interface ExportResult {
    ok: boolean;
    paths: string[];
    message: string;
}

/** The server's `h2j.lsp.verify` answer (`current`: for the editor's current text). */
interface VerifyResult {
    ok: boolean;
    status: string;
    message: string;
    reference?: string | null;
    current?: boolean;
}

/** A Python file worth starting the server for. */
export function mentionsHelion(document: vscode.TextDocument): boolean {
    return document.languageId === 'python' && (document.uri.scheme === 'file' || document.uri.scheme === 'untitled') && /\bhelion\b/.test(document.getText());
}

let manager: ServerManager | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
    const output = vscode.window.createOutputChannel('H2J', { log: true });
    context.subscriptions.push(output);

    const statusItem = vscode.window.createStatusBarItem('h2j.status', vscode.StatusBarAlignment.Left, 0);
    statusItem.name = 'H2J';
    statusItem.command = 'h2j.showOutput';
    context.subscriptions.push(statusItem);
    const showStatus = (presentation: StatusPresentation): void => {
        statusItem.text = presentation.text;
        statusItem.tooltip = presentation.tooltip;
        statusItem.backgroundColor =
            presentation.severity === 'error'
                ? new vscode.ThemeColor('statusBarItem.errorBackground')
                : presentation.severity === 'warning'
                  ? new vscode.ThemeColor('statusBarItem.warningBackground')
                  : undefined;
        statusItem.show();
    };

    // Each preview's text is one server command's answer: the client only shows it.
    const fetchFromServer = (command: string): PreviewFetcher => async (target, token) => {
        if (!manager) {
            throw new Error('H2J is not active.');
        }
        await manager.start();
        const client = manager.running;
        if (!client) {
            throw new Error(manager.problem && manager.problem.kind !== 'ok' ? manager.problem.message : 'The h2j language server is not running.');
        }
        return (await client.sendRequest(
            'workspace/executeCommand',
            { command, arguments: [target.uri, target.kernel, target.example] },
            token,
        )) as PreviewResult;
    };
    const preview = new PreviewProvider(fetchFromServer('h2j.lsp.previewJson'));
    const mlirPreview = new PreviewProvider(fetchFromServer('h2j.lsp.previewMlir'), MLIR_PREVIEW);
    for (const shown of [preview, mlirPreview]) {
        context.subscriptions.push(shown, vscode.workspace.registerTextDocumentContentProvider(shown.kind.scheme, shown));
    }
    // The server's preview lenses' commands, and the preview each opens.
    const lensPreviews = new Map([
        ['h2j.lsp.previewJson', preview],
        ['h2j.lsp.previewMlir', mlirPreview],
    ]);

    const server = new ServerManager(output, {
        middleware: {
            // The server's code lenses run these commands: show their results in the editor.
            executeCommand: async (command, args, next) => {
                const lensPreview = lensPreviews.get(command);
                if (lensPreview) {
                    const target = previewTargetFromArgs(args);
                    if (target) {
                        await openPreview(target, lensPreview);
                        return { ok: true, text: '' };
                    }
                }
                if (command === 'h2j.lsp.exportKernel') {
                    const result = (await next(command, args)) as ExportResult | undefined;
                    void reportExport(result, typeof args[1] === 'string' ? args[1] : 'kernel', output);
                    return result;
                }
                if (command === 'h2j.lsp.verify') {
                    const kernel = typeof args[1] === 'string' ? args[1] : 'kernel';
                    const result = (await verifyWithProgress(kernel, () => next(command, args))) as VerifyResult | undefined;
                    void reportVerify(result, kernel, output);
                    return result;
                }
                return next(command, args);
            },
        },
        onClient: (client: LanguageClient) => [
            client.onNotification('h2j/status', (params: unknown) => {
                const status = parseStatus(params);
                if (status) {
                    statusSeen++;
                    showStatus(presentStatus(status));
                }
            }),
            client.onNotification('h2j/exported', (params: { uri?: unknown; kernel?: unknown; example?: unknown }) => {
                preview.onExported(params ?? {});
                mlirPreview.onExported(params ?? {});
            }),
        ],
        onState: (state) => {
            showStatus(presentClientState(state));
            if (state === 'running') {
                preview.refreshAll();
                mlirPreview.refreshAll();
                void seedStatus();
            }
        },
    });
    // The worker's state as the server knows it now, unless a notification already told it.
    let statusSeen = 0;
    const seedStatus = async (): Promise<void> => {
        const before = statusSeen;
        try {
            const status = parseStatus(await server.executeServerCommand<unknown>('h2j.lsp.showStatus', []));
            if (status && statusSeen === before) {
                showStatus(presentStatus(status));
            }
        } catch {
            // an older server without the command: the notifications will tell
        }
    };
    manager = server;
    /** A command that opens the kernel's preview of this kind beside the editor. */
    function previewCommand(shown: PreviewProvider) {
        return async (uri?: unknown, kernel?: unknown, example?: unknown): Promise<void> => {
            if (uri === undefined && vscode.window.activeTextEditor?.document.uri.scheme === shown.kind.scheme) {
                shown.refreshAll(); // run from a preview: show it afresh
                return;
            }
            const target = await resolveTarget(server, uri, kernel, typeof example === 'number' ? example : 0, output);
            if (target) {
                await openPreview({ ...target, example: target.example ?? 0 }, shown);
            }
        };
    }
    context.subscriptions.push({ dispose: () => void server.dispose() });

    context.subscriptions.push(
        vscode.commands.registerCommand('h2j.showOutput', () => output.show(true)),
        vscode.commands.registerCommand('h2j.restartServer', async () => {
            await server.restart('H2J: Restart Server');
            reportProblem(server, output);
        }),
        vscode.commands.registerCommand('h2j.previewJson', previewCommand(preview)),
        vscode.commands.registerCommand('h2j.previewMlir', previewCommand(mlirPreview)),
        vscode.commands.registerCommand('h2j.verify', async (uri?: unknown, kernel?: unknown, example?: unknown) => {
            if (!vscode.workspace.isTrusted) {
                await explainRestrictedMode('verifying', 'verify');
                return;
            }
            const target = await resolveTarget(server, uri, kernel, typeof example === 'number' ? example : 0, output);
            if (!target) {
                return;
            }
            const result = await verifyWithProgress(target.kernel, () =>
                server.executeServerCommand<VerifyResult>('h2j.lsp.verify', [target.uri, target.kernel, target.example ?? 0]).catch(
                    (error: unknown): VerifyResult => ({ ok: false, status: 'error', message: error instanceof Error ? error.message : String(error) }),
                ),
            );
            await reportVerify(result, target.kernel, output);
        }),
        vscode.commands.registerCommand('h2j.exportKernel', async (uri?: unknown, kernel?: unknown, example?: unknown) => {
            if (!vscode.workspace.isTrusted) {
                await explainRestrictedMode('exporting', 'export');
                return;
            }
            const target = await resolveTarget(server, uri, kernel, typeof example === 'number' ? example : null, output);
            if (!target) {
                return;
            }
            const result = await vscode.window.withProgress(
                { location: vscode.ProgressLocation.Notification, title: `H2J: exporting ${target.kernel}…` },
                () =>
                    server.executeServerCommand<ExportResult>('h2j.lsp.exportKernel', [target.uri, target.kernel, target.example]).catch(
                        (error: unknown): ExportResult => ({
                            ok: false,
                            paths: [],
                            message: error instanceof Error ? error.message : String(error),
                        }),
                    ),
            );
            await reportExport(result, target.kernel, output);
        }),
    );

    // Start the server for the first Python file that mentions helion; restart it on a new interpreter or trust.
    let wanted = false;
    const maybeStart = (document: vscode.TextDocument): void => {
        if (!wanted && mentionsHelion(document)) {
            wanted = true;
            void server.start();
        }
    };
    context.subscriptions.push(
        vscode.workspace.onDidOpenTextDocument(maybeStart),
        vscode.workspace.onDidChangeTextDocument((event) => {
            if (!wanted && event.contentChanges.length > 0) {
                maybeStart(event.document);
            }
        }),
        vscode.workspace.onDidChangeConfiguration((event) => {
            if (changeNeedsRestart((section) => event.affectsConfiguration(section))) {
                void server.restart('h2j.interpreter changed').then(() => reportProblem(server, output));
            }
        }),
        vscode.workspace.onDidGrantWorkspaceTrust(() => void server.restart('the workspace is trusted now')),
    );
    void onDidChangeInterpreter(() => {
        const setting = vscode.workspace.getConfiguration('h2j').get<string[]>('interpreter') ?? [];
        if (setting.length === 0) {
            void server.restart('the Python extension selected another interpreter');
        }
    }).then((disposable) => context.subscriptions.push(disposable));
    vscode.workspace.textDocuments.forEach(maybeStart);
}

export async function deactivate(): Promise<void> {
    await manager?.dispose();
    manager = undefined;
}

async function explainRestrictedMode(doing: string, verb: string): Promise<void> {
    const manage = 'Manage Workspace Trust';
    const choice = await vscode.window.showWarningMessage(
        `H2J: ${doing} runs the kernel’s module, so it is off in Restricted Mode. Trust this workspace to ${verb}.`,
        manage,
    );
    if (choice === manage) {
        await vscode.commands.executeCommand('workbench.trust.manage');
    }
}

function verifyWithProgress<T>(kernel: string, run: () => Promise<T>): Thenable<T> {
    return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `H2J: verifying ${kernel}…` }, run);
}

/** The verify's outcome as a notification; its diagnostic and hover come from the server. */
async function reportVerify(result: VerifyResult | undefined, kernel: string, output: vscode.LogOutputChannel): Promise<void> {
    if (!result) {
        return;
    }
    if (result.current === false && result.status !== 'error') {
        output.info(`Verify of ${kernel} (an older text): ${result.status}: ${result.message}`);
        void vscode.window.showWarningMessage(`H2J: ${kernel} changed while it was verified; verify it again.`);
        return;
    }
    if (result.ok) {
        output.info(`Verified ${kernel}: ${result.message}`);
        void vscode.window.showInformationMessage(`H2J: verified ${kernel}: ${result.message}`);
        return;
    }
    output.error(`Verify of ${kernel}: ${result.status}: ${result.message}`);
    const choice = await vscode.window.showErrorMessage(`H2J: verify of ${kernel}: ${result.status}: ${result.message}`, 'Show Output');
    if (choice) {
        output.show(true);
    }
}

function reportProblem(server: ServerManager, output: vscode.LogOutputChannel): void {
    const problem = server.problem;
    if (!server.running && problem && problem.kind !== 'ok') {
        void showStartProblem(problem, output);
    }
}

function previewTargetFromArgs(args: unknown[]): PreviewTarget | undefined {
    const [uri, kernel, example] = args;
    if (typeof uri !== 'string' || typeof kernel !== 'string') {
        return undefined;
    }
    return { uri, kernel, example: typeof example === 'number' ? example : 0 };
}

/** The kernel a command is about: from its arguments, or the cursor, or a quick pick. */
async function resolveTarget(
    server: ServerManager,
    uriArg: unknown,
    kernelArg: unknown,
    example: number | null,
    output: vscode.LogOutputChannel,
): Promise<{ uri: string; kernel: string; example: number | null } | undefined> {
    if (typeof kernelArg === 'string' && (typeof uriArg === 'string' || uriArg instanceof vscode.Uri)) {
        return { uri: uriArg.toString(), kernel: kernelArg, example };
    }
    const editor = vscode.window.activeTextEditor;
    const document = uriArg instanceof vscode.Uri ? await vscode.workspace.openTextDocument(uriArg) : editor?.document;
    if (!document || document.languageId !== 'python') {
        void vscode.window.showWarningMessage('H2J: open a Python file with a Helion kernel first.');
        return undefined;
    }
    await server.start();
    const client = server.running;
    if (!client) {
        reportProblem(server, output);
        return undefined;
    }
    const symbols = (await client.sendRequest(DocumentSymbolRequest.type, { textDocument: { uri: document.uri.toString() } })) ?? [];
    const kernels = kernelsFromSymbols(symbols);
    const position = editor && editor.document === document ? editor.selection.active : undefined;
    const choice = chooseKernel(kernels, position, (line) => (line < document.lineCount ? document.lineAt(line).text : undefined));
    let kernel: Kernel | undefined;
    if (choice.kind === 'none') {
        void vscode.window.showWarningMessage(`H2J: no Helion kernel in ${path.basename(document.uri.fsPath)}.`);
        return undefined;
    } else if (choice.kind === 'kernel') {
        kernel = choice.kernel;
    } else {
        const picked = await vscode.window.showQuickPick(
            choice.kernels.map((k) => ({ label: k.name, description: `line ${k.selectionRange.start.line + 1}`, detail: k.detail, kernel: k })),
            { title: 'H2J: which kernel?', placeHolder: 'Kernel' },
        );
        kernel = picked?.kernel;
    }
    return kernel ? { uri: document.uri.toString(), kernel: kernel.name, example } : undefined;
}

async function reportExport(result: ExportResult | undefined, kernel: string, output: vscode.LogOutputChannel): Promise<void> {
    if (!result) {
        return;
    }
    if (!result.ok) {
        output.error(`Export of ${kernel} failed: ${result.message}`);
        const choice = await vscode.window.showErrorMessage(`H2J: export of ${kernel} failed: ${result.message}`, 'Show Output');
        if (choice) {
            output.show(true);
        }
        return;
    }
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? '';
    const shown = result.paths.map((p) => (folder && path.isAbsolute(p) ? path.relative(folder, p) : p));
    output.info(`Exported ${kernel}: ${shown.join(', ')}`);
    const open = 'Open';
    const choice = await vscode.window.showInformationMessage(`H2J: exported ${kernel} → ${shown.join(', ')}`, open);
    if (choice === open && result.paths.length > 0) {
        const first = result.paths[0];
        const file = path.isAbsolute(first) || !folder ? first : path.join(folder, first);
        await vscode.window.showTextDocument(vscode.Uri.file(file));
    }
}
