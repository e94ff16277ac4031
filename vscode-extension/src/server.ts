// Starts, stops and restarts the h2j language server (`python -m h2j_lsp` over stdio).
import { spawn } from 'node:child_process';
import * as os from 'node:os';
import * as readline from 'node:readline';
import * as vscode from 'vscode';
import {
    CloseAction,
    type CloseHandlerResult,
    ErrorAction,
    type ErrorHandler,
    type ErrorHandlerResult,
    ExecuteCommandRequest,
    LanguageClient,
    type LanguageClientOptions,
    type Middleware,
    type ServerOptions,
    State,
} from 'vscode-languageclient/node';
import { describeInterpreter, type Interpreter, resolveInterpreter, serverCommandLine } from './interpreter';
import { activeInterpreter } from './pythonExtension';
import { initializationOptions } from './settings';
import { diagnoseProbe, diagnoseServerExit, PROBE_SCRIPT, type ProbeResult, type StartProblem } from './startup';

export const CLIENT_ID = 'h2j';
export const CLIENT_NAME = 'H2J Language Server';

export type ClientState = 'starting' | 'running' | 'stopped' | 'not-installed';

export interface ServerManagerHooks {
    middleware: Middleware;
    /** Called with each fresh client before it starts (register notification handlers here). */
    onClient(client: LanguageClient): vscode.Disposable[];
    onState(state: ClientState): void;
}

const STDERR_TAIL_LINES = 60;

function firstWorkspaceFolder(): vscode.WorkspaceFolder | undefined {
    const folders = vscode.workspace.workspaceFolders;
    return folders && folders.length > 0 ? folders[0] : undefined;
}

function probe(interpreter: Interpreter, cwd: string | undefined): Promise<ProbeResult> {
    return new Promise((resolve) => {
        let stdout = '';
        let stderr = '';
        let settled = false;
        const done = (result: ProbeResult): void => {
            if (!settled) {
                settled = true;
                resolve(result);
            }
        };
        let child;
        try {
            child = spawn(interpreter.command, [...interpreter.args, '-c', PROBE_SCRIPT], {
                cwd,
                stdio: ['ignore', 'pipe', 'pipe'],
                windowsHide: true,
                timeout: 30_000,
            });
        } catch (error) {
            done({ code: null, stdout, stderr, spawnError: (error as NodeJS.ErrnoException).code ?? String(error) });
            return;
        }
        child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        child.on('error', (error: NodeJS.ErrnoException) => done({ code: null, stdout, stderr, spawnError: error.code ?? error.message }));
        child.on('close', (code) => done({ code, stdout, stderr }));
    });
}

export class ServerManager implements vscode.Disposable {
    private client: LanguageClient | undefined;
    private clientDisposables: vscode.Disposable[] = [];
    private interpreter: Interpreter | undefined;
    private stderrTail: string[] = [];
    private queue: Promise<void> = Promise.resolve();
    private lastProblem: StartProblem | undefined;
    private disposed = false;

    constructor(
        private readonly output: vscode.LogOutputChannel,
        private readonly hooks: ServerManagerHooks,
    ) {}

    /** The running client, if any. */
    get running(): LanguageClient | undefined {
        return this.client?.state === State.Running ? this.client : undefined;
    }

    get problem(): StartProblem | undefined {
        return this.lastProblem;
    }

    /** Start (if stopped). Calls are serialised with restarts and stops. */
    start(): Promise<void> {
        return this.enqueue(async () => {
            if (!this.client) {
                await this.doStart();
            }
        });
    }

    restart(reason: string): Promise<void> {
        return this.enqueue(async () => {
            this.output.info(`Restarting the server: ${reason}`);
            await this.doStop();
            await this.doStart();
        });
    }

    stop(): Promise<void> {
        return this.enqueue(() => this.doStop());
    }

    /** Run a server command without the client's middleware (so our interceptors don't see it). */
    async executeServerCommand<T>(command: string, args: unknown[]): Promise<T> {
        await this.start();
        const client = this.running;
        if (!client) {
            throw new Error(this.lastProblem && this.lastProblem.kind !== 'ok' ? this.lastProblem.message : 'The h2j language server is not running.');
        }
        return (await client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args })) as T;
    }

    async dispose(): Promise<void> {
        this.disposed = true;
        await this.stop();
    }

    private enqueue(task: () => Promise<void>): Promise<void> {
        const next = this.queue.then(task, task);
        this.queue = next.catch(() => undefined);
        return next;
    }

    private async doStart(): Promise<void> {
        if (this.disposed) {
            return;
        }
        this.hooks.onState('starting');
        this.stderrTail = [];
        const folder = firstWorkspaceFolder();
        const config = vscode.workspace.getConfiguration('h2j', folder?.uri);
        const interpreter = await resolveInterpreter({
            setting: config.get<string[]>('interpreter'),
            pythonExtension: () => activeInterpreter(folder?.uri),
            workspaceFolder: folder?.uri.fsPath,
            home: os.homedir(),
        });
        this.interpreter = interpreter;
        this.output.info(`Python: ${describeInterpreter(interpreter)}`);

        const problem = diagnoseProbe(interpreter.command, interpreter.args, await probe(interpreter, folder?.uri.fsPath));
        this.lastProblem = problem;
        if (problem.kind !== 'ok') {
            this.output.error(problem.message);
            this.hooks.onState(problem.kind === 'not-installed' ? 'not-installed' : 'stopped');
            void showStartProblem(problem, this.output);
            return;
        }
        this.output.info(`Python ${problem.python} at ${problem.executable}`);

        const { command, args } = serverCommandLine(interpreter);
        const serverOptions: ServerOptions = {
            command,
            args,
            options: { cwd: folder?.uri.fsPath, env: { ...process.env, PYTHONUNBUFFERED: '1' } },
        };
        const documentSelector = [
            { scheme: 'file', language: 'python' },
            { scheme: 'untitled', language: 'python' },
        ];
        const clientOptions: LanguageClientOptions = {
            documentSelector,
            outputChannel: this.output,
            traceOutputChannel: this.output,
            diagnosticCollectionName: 'h2j',
            initializationOptions: () => initializationOptions(vscode.workspace.isTrusted, vscode.workspace.getConfiguration('h2j', folder?.uri)),
            synchronize: { configurationSection: 'h2j' },
            middleware: this.hooks.middleware,
            errorHandler: this.errorHandler(),
            stdioOptions: {
                stdout: (input) => this.pipeLines(input, (line) => this.output.info(line)),
                stderr: (input) =>
                    this.pipeLines(input, (line) => {
                        this.stderrTail.push(line);
                        if (this.stderrTail.length > STDERR_TAIL_LINES) {
                            this.stderrTail.shift();
                        }
                        this.output.appendLine(line);
                    }),
            },
        };
        const client = new LanguageClient(CLIENT_ID, CLIENT_NAME, serverOptions, clientOptions);
        this.client = client;
        this.clientDisposables = [
            ...this.hooks.onClient(client),
            client.onDidChangeState((event) => {
                if (event.newState === State.Running) {
                    this.hooks.onState('running');
                } else if (event.newState === State.Stopped && this.client === client) {
                    this.hooks.onState('stopped');
                }
            }),
        ];
        this.output.info(`Starting: ${[command, ...args].join(' ')}`);
        try {
            await client.start();
        } catch (error) {
            const diagnosis = diagnoseServerExit(command, interpreter.args, this.stderrTail.join('\n')) ?? {
                kind: 'broken' as const,
                message: `H2J: the language server did not start: ${error instanceof Error ? error.message : String(error)}`,
            };
            this.lastProblem = diagnosis;
            this.output.error(diagnosis.message);
            this.hooks.onState(diagnosis.kind === 'not-installed' ? 'not-installed' : 'stopped');
            void showStartProblem(diagnosis, this.output);
            await this.disposeClient();
        }
    }

    private pipeLines(input: NodeJS.ReadableStream, onLine: (line: string) => void): void {
        readline.createInterface({ input, crlfDelay: Infinity, terminal: false, historySize: 0 }).on('line', onLine);
    }

    private errorHandler(): ErrorHandler {
        let fallback: ErrorHandler | undefined;
        const defaults = (): ErrorHandler => (fallback ??= this.client!.createDefaultErrorHandler(4));
        return {
            error: (error, message, count): ErrorHandlerResult | Promise<ErrorHandlerResult> =>
                this.client ? defaults().error(error, message, count) : { action: ErrorAction.Shutdown },
            closed: async (): Promise<CloseHandlerResult> => {
                if (!this.client) {
                    return { action: CloseAction.DoNotRestart, handled: true };
                }
                const result = await defaults().closed();
                if (result.action === CloseAction.DoNotRestart && this.interpreter) {
                    const diagnosis = diagnoseServerExit(this.interpreter.command, this.interpreter.args, this.stderrTail.join('\n'));
                    if (diagnosis) {
                        this.lastProblem = diagnosis;
                        this.output.error(diagnosis.message);
                        void showStartProblem(diagnosis, this.output);
                        return { action: CloseAction.DoNotRestart, handled: true };
                    }
                }
                return result;
            },
        };
    }

    private async doStop(): Promise<void> {
        const client = this.client;
        if (!client) {
            return;
        }
        try {
            if (client.needsStop()) {
                await client.stop(5000);
            }
        } catch (error) {
            this.output.warn(`Stopping the server: ${error instanceof Error ? error.message : String(error)}`);
        }
        await this.disposeClient();
        this.hooks.onState('stopped');
    }

    private async disposeClient(): Promise<void> {
        const client = this.client;
        this.client = undefined;
        for (const disposable of this.clientDisposables) {
            disposable.dispose();
        }
        this.clientDisposables = [];
        if (client) {
            try {
                await client.dispose(2000);
            } catch {
                // already stopped
            }
        }
    }
}

export async function showStartProblem(problem: StartProblem, output: vscode.LogOutputChannel): Promise<void> {
    if (problem.kind === 'ok') {
        return;
    }
    const openSettings = 'Open Settings';
    const showOutput = 'Show Output';
    const actions = problem.kind === 'not-installed' ? [openSettings, 'Copy Install Command', showOutput] : [openSettings, showOutput];
    const choice = await vscode.window.showErrorMessage(problem.message, ...actions);
    if (choice === openSettings) {
        await vscode.commands.executeCommand('workbench.action.openSettings', 'h2j.interpreter');
    } else if (choice === 'Copy Install Command') {
        await vscode.env.clipboard.writeText("pip install 'helion2json[lsp]'");
    } else if (choice === showOutput) {
        output.show(true);
    }
}
