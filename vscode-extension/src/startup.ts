// Why the server could not start, in words a user can act on. Pure: no `vscode` import.

export const INSTALL_COMMAND = "pip install 'helion2json[lsp]'";

export interface ProbeResult {
    /** Exit code of `python -c <PROBE_SCRIPT>`, or null when it could not run. */
    code: number | null;
    stdout: string;
    stderr: string;
    /** `error.code` of a spawn failure (`ENOENT`, `EACCES`, ...). */
    spawnError?: string;
}

/**
 * Run with the server's interpreter before starting it: checks the Python version and that
 * the server and its dependencies import, without starting anything. Prints one JSON line.
 */
export const PROBE_SCRIPT = [
    'import importlib.util, json, sys',
    'missing = [m for m in ("h2j_lsp", "pygls", "lsprotocol") if importlib.util.find_spec(m) is None]',
    'print(json.dumps({"python": sys.version.split()[0], "executable": sys.executable, "missing": missing}))',
].join('\n');

export type StartFailure =
    | { kind: 'no-interpreter'; message: string }
    | { kind: 'not-installed'; message: string; missing: string[] }
    | { kind: 'broken'; message: string };

export type StartProblem = { kind: 'ok'; python: string; executable: string } | StartFailure;

function interpreterLine(command: string, args: readonly string[]): string {
    return [command, ...args].join(' ');
}

export function diagnoseProbe(command: string, args: readonly string[], result: ProbeResult): StartProblem {
    const line = interpreterLine(command, args);
    if (result.spawnError === 'ENOENT' || result.spawnError === 'EACCES' || result.spawnError === 'ENOTDIR') {
        return {
            kind: 'no-interpreter',
            message: `H2J: cannot run the Python interpreter "${line}" (${result.spawnError}). Set "h2j.interpreter" to a Python that has helion2json installed, or select an interpreter with the Python extension.`,
        };
    }
    if (result.spawnError) {
        return { kind: 'broken', message: `H2J: cannot run "${line}": ${result.spawnError}.` };
    }
    const lastLine = result.stdout.trim().split(/\r?\n/).pop() ?? '';
    let parsed: { python?: unknown; executable?: unknown; missing?: unknown } | undefined;
    try {
        parsed = JSON.parse(lastLine);
    } catch {
        parsed = undefined;
    }
    if (result.code !== 0 || !parsed) {
        const cause = firstErrorLine(result.stderr) ?? `exit code ${String(result.code)}`;
        return {
            kind: 'broken',
            message: `H2J: "${line}" is not a working Python 3 (${cause}). Set "h2j.interpreter" to a Python that has helion2json installed.`,
        };
    }
    const missing = Array.isArray(parsed.missing) ? parsed.missing.filter((m): m is string => typeof m === 'string') : [];
    if (missing.length > 0) {
        const what = missing.includes('h2j_lsp') ? 'No module named h2j_lsp' : `missing ${missing.join(', ')}`;
        return {
            kind: 'not-installed',
            missing,
            message: `H2J: the language server is not installed in ${String(parsed.executable ?? line)} (${what}). Install with: ${INSTALL_COMMAND} — or set "h2j.interpreter" to a Python that has it.`,
        };
    }
    return {
        kind: 'ok',
        python: typeof parsed.python === 'string' ? parsed.python : '',
        executable: typeof parsed.executable === 'string' ? parsed.executable : line,
    };
}

/** The server exited: find the cause in what it wrote to stderr. */
export function diagnoseServerExit(command: string, args: readonly string[], stderr: string): StartFailure | undefined {
    const missingModule = /No module named '?([\w.]+)'?/.exec(stderr);
    if (missingModule) {
        const module = missingModule[1];
        const root = module.split('.')[0];
        if (['h2j_lsp', 'pygls', 'lsprotocol', 'helion2json', 'pydantic'].includes(root)) {
            return {
                kind: 'not-installed',
                missing: [root],
                message: `H2J: the language server is not installed in ${interpreterLine(command, args)} (No module named ${module}). Install with: ${INSTALL_COMMAND} — or set "h2j.interpreter" to a Python that has it.`,
            };
        }
    }
    const cause = firstErrorLine(stderr);
    return cause ? { kind: 'broken', message: `H2J: the language server stopped: ${cause}` } : undefined;
}

/** The most telling line of a Python traceback or error output. */
export function firstErrorLine(stderr: string): string | undefined {
    const lines = stderr
        .split(/\r?\n/)
        .map((l) => l.trim())
        .filter((l) => l !== '');
    const exception = [...lines].reverse().find((l) => /^[\w.]+(Error|Exception|Exit)\b/.test(l));
    return exception ?? lines.pop();
}
