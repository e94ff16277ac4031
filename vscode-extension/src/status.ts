// The status bar item's text for an `h2j/status` notification. Pure: no `vscode` import.

export type WorkerState = 'idle' | 'starting' | 'exporting' | 'failed' | 'untrusted' | 'stopped';

export interface ServerStatus {
    state: WorkerState;
    host: string;
    message: string;
}

export interface StatusPresentation {
    text: string;
    tooltip: string;
    /** Status bar background: an error or a warning colour, or none. */
    severity?: 'error' | 'warning';
}

const STATES: readonly WorkerState[] = ['idle', 'starting', 'exporting', 'failed', 'untrusted', 'stopped'];

/** A well-formed status from a notification's params, or undefined. */
export function parseStatus(params: unknown): ServerStatus | undefined {
    const p = params as Partial<Record<keyof ServerStatus, unknown>> | null | undefined;
    if (typeof p !== 'object' || p === null || !STATES.includes(p.state as WorkerState)) {
        return undefined;
    }
    return {
        state: p.state as WorkerState,
        host: typeof p.host === 'string' && p.host !== '' ? p.host : 'local',
        message: typeof p.message === 'string' ? p.message : '',
    };
}

const ICONS: Record<WorkerState, string> = {
    idle: '$(check)',
    starting: '$(loading~spin)',
    exporting: '$(sync~spin)',
    failed: '$(error)',
    untrusted: '$(shield)',
    stopped: '$(circle-slash)',
};

export function presentStatus(status: ServerStatus): StatusPresentation {
    const where = status.host === 'local' ? 'local' : status.host;
    const text = `${ICONS[status.state]} H2J: ${where} ${status.state}`;
    const lines = [`h2j exporter worker (${where}): ${status.state}`];
    if (status.message) {
        lines.push(status.message);
    }
    lines.push('Click to show the H2J output.');
    return {
        text,
        tooltip: lines.join('\n'),
        severity: status.state === 'failed' ? 'error' : status.state === 'untrusted' ? 'warning' : undefined,
    };
}

/** The status bar before the server has said anything, or when it is not running. */
export function presentClientState(state: 'starting' | 'running' | 'stopped' | 'not-installed'): StatusPresentation {
    switch (state) {
        case 'starting':
            return { text: '$(loading~spin) H2J: starting', tooltip: 'Starting the h2j language server.\nClick to show the H2J output.' };
        case 'running':
            return { text: '$(check) H2J', tooltip: 'The h2j language server is running.\nClick to show the H2J output.' };
        case 'not-installed':
            return {
                text: '$(error) H2J: not installed',
                tooltip: "The h2j language server is not installed in the selected Python.\nInstall with: pip install 'helion2json[lsp]'\nClick to show the H2J output.",
                severity: 'error',
            };
        default:
            return { text: '$(circle-slash) H2J: stopped', tooltip: 'The h2j language server is not running.\nClick to show the H2J output.', severity: 'warning' };
    }
}
