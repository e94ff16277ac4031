// Kernels of a document, from the server's document symbols, and which one the cursor is in.
// Pure: no `vscode` import (positions and ranges are LSP-shaped plain objects).

export interface Position {
    line: number;
    character: number;
}

export interface Range {
    start: Position;
    end: Position;
}

export interface Kernel {
    name: string;
    /** The whole kernel: decorators and body. */
    range: Range;
    /** Where its name is. */
    selectionRange: Range;
    detail?: string;
}

/** LSP SymbolKind values that a kernel can have. */
const FUNCTION_KINDS = new Set([6 /* Method */, 12 /* Function */]);

function isRange(value: unknown): value is Range {
    const r = value as Range | undefined;
    return (
        typeof r === 'object' &&
        r !== null &&
        typeof r.start?.line === 'number' &&
        typeof r.start?.character === 'number' &&
        typeof r.end?.line === 'number' &&
        typeof r.end?.character === 'number'
    );
}

/**
 * The kernels among the server's answer to textDocument/documentSymbol: top-level function
 * symbols, whether it answers with DocumentSymbol[] or SymbolInformation[]. The h2j server
 * lists only kernels, so every function symbol is one. Sorted by position.
 */
export function kernelsFromSymbols(symbols: readonly unknown[] | null | undefined): Kernel[] {
    const kernels: Kernel[] = [];
    for (const symbol of symbols ?? []) {
        const s = symbol as {
            name?: unknown;
            kind?: unknown;
            detail?: unknown;
            range?: unknown;
            selectionRange?: unknown;
            location?: { range?: unknown };
            containerName?: unknown;
        };
        if (typeof s?.name !== 'string' || s.name === '' || !FUNCTION_KINDS.has(s.kind as number)) {
            continue;
        }
        const range = isRange(s.range) ? s.range : isRange(s.location?.range) ? s.location.range : undefined;
        if (!range) {
            continue;
        }
        if (typeof s.containerName === 'string' && s.containerName !== '') {
            continue; // SymbolInformation nested in something: not a module-level kernel
        }
        kernels.push({
            name: s.name,
            range,
            selectionRange: isRange(s.selectionRange) ? s.selectionRange : range,
            detail: typeof s.detail === 'string' ? s.detail : undefined,
        });
    }
    return kernels.sort((a, b) => a.range.start.line - b.range.start.line || a.range.start.character - b.range.start.character);
}

function before(a: Position, b: Position): boolean {
    return a.line < b.line || (a.line === b.line && a.character < b.character);
}

function contains(range: Range, pos: Position): boolean {
    return !before(pos, range.start) && !before(range.end, pos);
}

const ATTACHED_LINE = /^\s*(#.*|@.*)?$/;

/**
 * The kernel the cursor is in: the innermost one whose range contains it; else the kernel
 * whose `# h2j:` comment block or decorators the cursor is on (the comment and decorator
 * lines directly above the kernel, `lineText` gives a line's text); else undefined.
 */
export function kernelAtPosition(
    kernels: readonly Kernel[],
    pos: Position,
    lineText?: (line: number) => string | undefined,
): Kernel | undefined {
    const containing = kernels.filter((k) => contains(k.range, pos));
    if (containing.length > 0) {
        return containing.reduce((inner, k) => (before(inner.range.start, k.range.start) ? k : inner));
    }
    if (!lineText) {
        return undefined;
    }
    const below = kernels.find((k) => k.range.start.line > pos.line);
    if (!below) {
        return undefined;
    }
    for (let line = pos.line; line < below.range.start.line; line++) {
        const text = lineText(line);
        if (text === undefined || !ATTACHED_LINE.test(text) || text.trim() === '') {
            return undefined;
        }
    }
    return below;
}

/** What to do when a command needs one kernel: use it, or ask among several, or there are none. */
export function chooseKernel(
    kernels: readonly Kernel[],
    pos: Position | undefined,
    lineText?: (line: number) => string | undefined,
): { kind: 'kernel'; kernel: Kernel } | { kind: 'pick'; kernels: Kernel[] } | { kind: 'none' } {
    if (kernels.length === 0) {
        return { kind: 'none' };
    }
    const atCursor = pos ? kernelAtPosition(kernels, pos, lineText) : undefined;
    if (atCursor) {
        return { kind: 'kernel', kernel: atCursor };
    }
    if (kernels.length === 1) {
        return { kind: 'kernel', kernel: kernels[0] };
    }
    return { kind: 'pick', kernels: [...kernels] };
}
