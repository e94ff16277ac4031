// The read-only preview documents' URIs: `h2j-preview:<dir>/<module>.<kernel>[.<n>].helion.json?<target>`
// for the JSON, `h2j-mlir-preview:<dir>/<module>.<kernel>[.<n>].mlir?<target>` for the MLIR.
// The path gives the tab a readable title ending in `.json` or `.mlir`;
// the query carries the exact target, base64url-encoded JSON so that no character of the
// source URI or kernel name can be mangled by URI escaping. Pure: no `vscode` import.

export const PREVIEW_SCHEME = 'h2j-preview';

/** What a preview shows: its URI scheme, the suffix of its title, its language, and what
 * the server was doing when it has nothing to show. */
export interface PreviewKind {
    scheme: string;
    suffix: string;
    languageId: string;
    doing: string;
}

// jsonc: a failed export is shown as comments, which plain JSON would flag.
export const JSON_PREVIEW: PreviewKind = { scheme: PREVIEW_SCHEME, suffix: '.helion.json', languageId: 'jsonc', doing: 'exporting' };
export const MLIR_PREVIEW: PreviewKind = { scheme: 'h2j-mlir-preview', suffix: '.mlir', languageId: 'mlir', doing: 'exporting and lowering' };

export interface PreviewTarget {
    /** The kernel's source file, as a URI string (`file:///...`). */
    uri: string;
    kernel: string;
    /** 0-based index of the `# h2j: args(...)` example. */
    example: number;
}

export interface PreviewUriParts {
    scheme: string;
    path: string;
    query: string;
}

function sourcePath(uri: string): string {
    try {
        return decodeURIComponent(new URL(uri).pathname);
    } catch {
        return uri;
    }
}

/** `/work/kernels/matmul.py` → `matmul`. */
export function moduleName(uri: string): string {
    const base = sourcePath(uri).split('/').pop() ?? '';
    return base.replace(/\.pyi?$/, '') || 'module';
}

export function previewFileName(target: PreviewTarget, kind: PreviewKind = JSON_PREVIEW): string {
    const example = target.example > 0 ? `.${target.example}` : '';
    return `${moduleName(target.uri)}.${target.kernel}${example}${kind.suffix}`;
}

export function encodePreviewUri(target: PreviewTarget, kind: PreviewKind = JSON_PREVIEW): PreviewUriParts {
    const source = sourcePath(target.uri);
    const slash = source.lastIndexOf('/');
    const dir = slash > 0 ? source.slice(0, slash) : '';
    const payload = JSON.stringify({ uri: target.uri, kernel: target.kernel, example: target.example });
    return {
        scheme: kind.scheme,
        path: `${dir}/${previewFileName(target, kind)}`,
        query: Buffer.from(payload, 'utf8').toString('base64url'),
    };
}

/** The target of a preview URI's query, or undefined when it is not one of ours. */
export function decodePreviewQuery(query: string): PreviewTarget | undefined {
    let value: unknown;
    try {
        value = JSON.parse(Buffer.from(query, 'base64url').toString('utf8'));
    } catch {
        return undefined;
    }
    if (typeof value !== 'object' || value === null) {
        return undefined;
    }
    const { uri, kernel, example } = value as Record<string, unknown>;
    if (typeof uri !== 'string' || typeof kernel !== 'string' || kernel === '') {
        return undefined;
    }
    if (typeof example !== 'number' || !Number.isInteger(example) || example < 0) {
        return undefined;
    }
    return { uri, kernel, example };
}

/** Whether an `h2j/exported` notification concerns a preview's target. */
export function exportedMatches(
    target: PreviewTarget,
    exported: { uri?: unknown; kernel?: unknown; example?: unknown },
    sameUri: (a: string, b: string) => boolean = (a, b) => a === b,
): boolean {
    if (typeof exported.uri !== 'string' || !sameUri(exported.uri, target.uri)) {
        return false;
    }
    if (exported.kernel !== undefined && exported.kernel !== null && exported.kernel !== target.kernel) {
        return false;
    }
    // An export of every example (example null/absent) refreshes each example's preview.
    return typeof exported.example !== 'number' || exported.example === target.example;
}

/**
 * Compare two `file:` URI strings the way the server and VS Code may spell them differently
 * (percent-encoding of `:` and other characters, drive-letter case on Windows).
 */
export function sameFileUri(a: string, b: string): boolean {
    if (a === b) {
        return true;
    }
    const norm = (uri: string): string => {
        try {
            const url = new URL(uri);
            const path = decodeURIComponent(url.pathname).replace(/^\/([A-Za-z]):/, (_m, d: string) => `/${d.toLowerCase()}:`);
            return `${url.protocol}//${url.host}${path}`;
        } catch {
            return uri;
        }
    };
    return norm(a) === norm(b);
}
