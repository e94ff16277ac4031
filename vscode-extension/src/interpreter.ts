// Which Python runs the language server. Pure: no `vscode` import.

export type InterpreterSource = 'setting' | 'python-extension' | 'default';

export interface Interpreter {
    /** The executable. */
    command: string;
    /** Arguments placed before `-m h2j_lsp` (from the `h2j.interpreter` setting). */
    args: string[];
    source: InterpreterSource;
}

export interface InterpreterInputs {
    /** The `h2j.interpreter` setting: path + arguments; empty or unset means "not set". */
    setting: readonly string[] | undefined;
    /**
     * The Python extension's active interpreter for the resource, or undefined when the
     * Python extension is not installed or has none. Only called when the setting is empty.
     */
    pythonExtension?: () => Promise<string | undefined>;
    workspaceFolder?: string;
    home?: string;
    platform?: string;
}

/** `${workspaceFolder}`, `${userHome}`, `${env:NAME}` and a leading `~`. */
export function expandVariables(
    value: string,
    context: { workspaceFolder?: string; home?: string; env?: Record<string, string | undefined> },
): string {
    let out = value;
    if (context.home && (out === '~' || out.startsWith('~/') || out.startsWith('~\\'))) {
        out = context.home + out.slice(1);
    }
    return out.replace(/\$\{(workspaceFolder|userHome|env:([^}]+))\}/g, (match, name: string, envName?: string) => {
        if (name === 'workspaceFolder') {
            return context.workspaceFolder ?? match;
        }
        if (name === 'userHome') {
            return context.home ?? match;
        }
        return (context.env ?? {})[envName ?? ''] ?? '';
    });
}

export function defaultPython(platform: string = process.platform): string {
    return platform === 'win32' ? 'python' : 'python3';
}

/**
 * Resolution order: the `h2j.interpreter` setting; else the Python extension's active
 * interpreter; else `python3` (`python` on Windows). A Python extension that throws is
 * treated as absent.
 */
export async function resolveInterpreter(inputs: InterpreterInputs): Promise<Interpreter> {
    const setting = (inputs.setting ?? []).filter((part) => typeof part === 'string');
    if (setting.length > 0 && setting[0].trim() !== '') {
        const context = { workspaceFolder: inputs.workspaceFolder, home: inputs.home, env: process.env };
        const [command, ...args] = setting.map((part) => expandVariables(part, context));
        return { command, args, source: 'setting' };
    }
    if (inputs.pythonExtension) {
        let fromExtension: string | undefined;
        try {
            fromExtension = await inputs.pythonExtension();
        } catch {
            fromExtension = undefined;
        }
        if (fromExtension && fromExtension.trim() !== '') {
            return { command: fromExtension, args: [], source: 'python-extension' };
        }
    }
    return { command: defaultPython(inputs.platform), args: [], source: 'default' };
}

/** The command line that starts the server with this interpreter. */
export function serverCommandLine(interpreter: Interpreter): { command: string; args: string[] } {
    return { command: interpreter.command, args: [...interpreter.args, '-m', 'h2j_lsp'] };
}

export function describeInterpreter(interpreter: Interpreter): string {
    const line = [interpreter.command, ...interpreter.args].join(' ');
    switch (interpreter.source) {
        case 'setting':
            return `${line} (from the h2j.interpreter setting)`;
        case 'python-extension':
            return `${line} (the Python extension's active interpreter)`;
        default:
            return `${line} (default; set h2j.interpreter or select an interpreter with the Python extension)`;
    }
}
