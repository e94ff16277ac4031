// Server settings (the `h2j` configuration section) and the server's initializationOptions.
// Pure: no `vscode` import, so unit tests run under plain node.

/** Reads one key of the `h2j` section (like `vscode.WorkspaceConfiguration.get`). */
export interface ConfigReader {
    get<T>(key: string): T | undefined;
}

export type Trigger = 'change' | 'save';

/** Every setting the language server reads (it also reads them itself through workspace/configuration). */
export interface ServerSettings {
    workerPython: string | null;
    remoteHost: string | null;
    remotePython: string;
    remoteRoot: string | null;
    sshArgs: string[];
    trigger: Trigger;
    debounceMs: number;
    timeoutSeconds: number;
    outDir: string;
}

export const DEFAULT_SETTINGS: Readonly<ServerSettings> = Object.freeze({
    workerPython: null,
    remoteHost: null,
    remotePython: 'python3',
    remoteRoot: null,
    sshArgs: [],
    trigger: 'change',
    debounceMs: 400,
    timeoutSeconds: 60,
    outDir: 'helion-json',
});

export const SERVER_SETTING_KEYS = Object.freeze(Object.keys(DEFAULT_SETTINGS)) as readonly (keyof ServerSettings)[];

/** Settings that only the extension reads. */
export const CLIENT_SETTING_KEYS = Object.freeze(['interpreter', 'trace.server'] as const);

export interface InitializationOptions {
    trusted: boolean;
    settings: ServerSettings;
}

function optionalString(value: unknown, fallback: string | null): string | null {
    if (value === null) {
        return null;
    }
    if (typeof value === 'string') {
        const trimmed = value.trim();
        return trimmed === '' ? null : trimmed;
    }
    return fallback;
}

function requiredString(value: unknown, fallback: string): string {
    return typeof value === 'string' && value.trim() !== '' ? value.trim() : fallback;
}

function nonNegativeNumber(value: unknown, fallback: number): number {
    return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : fallback;
}

function stringList(value: unknown, fallback: string[]): string[] {
    return Array.isArray(value) && value.every((item) => typeof item === 'string') ? [...value] : [...fallback];
}

/**
 * The server settings, with a value of the wrong type replaced by its default
 * (VS Code does not enforce the contributed schema on hand-edited settings.json files).
 * An empty string means "not set" for the optional strings.
 */
export function readServerSettings(config: ConfigReader): ServerSettings {
    const trigger = config.get<unknown>('trigger');
    const timeout = nonNegativeNumber(config.get<unknown>('timeoutSeconds'), DEFAULT_SETTINGS.timeoutSeconds);
    return {
        workerPython: optionalString(config.get<unknown>('workerPython'), DEFAULT_SETTINGS.workerPython),
        remoteHost: optionalString(config.get<unknown>('remoteHost'), DEFAULT_SETTINGS.remoteHost),
        remotePython: requiredString(config.get<unknown>('remotePython'), DEFAULT_SETTINGS.remotePython),
        remoteRoot: optionalString(config.get<unknown>('remoteRoot'), DEFAULT_SETTINGS.remoteRoot),
        sshArgs: stringList(config.get<unknown>('sshArgs'), DEFAULT_SETTINGS.sshArgs),
        trigger: trigger === 'change' || trigger === 'save' ? trigger : DEFAULT_SETTINGS.trigger,
        debounceMs: nonNegativeNumber(config.get<unknown>('debounceMs'), DEFAULT_SETTINGS.debounceMs),
        timeoutSeconds: timeout > 0 ? timeout : DEFAULT_SETTINGS.timeoutSeconds,
        outDir: requiredString(config.get<unknown>('outDir'), DEFAULT_SETTINGS.outDir),
    };
}

export function initializationOptions(trusted: boolean, config: ConfigReader): InitializationOptions {
    return { trusted, settings: readServerSettings(config) };
}

/**
 * Whether a configuration change needs a new server process. Only what the server's
 * command line depends on does: its interpreter. The server follows every other `h2j`
 * setting itself (workspace/didChangeConfiguration), keeping its warm worker when it can.
 */
export function changeNeedsRestart(affects: (section: string) => boolean): boolean {
    return affects('h2j.interpreter');
}

/** Whether a configuration change concerns the server's settings (sent as didChangeConfiguration). */
export function changeAffectsServer(affects: (section: string) => boolean): boolean {
    return SERVER_SETTING_KEYS.some((key) => affects(`h2j.${key}`));
}
