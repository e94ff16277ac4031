// The read-only previews: a TextDocumentContentProvider per kind, for `h2j-preview:` (JSON) or
// `h2j-mlir-preview:` (MLIR) URIs, filled by the server's `h2j.lsp.previewJson` or
// `h2j.lsp.previewMlir` command and refreshed on each `h2j/exported` notification.
import * as vscode from 'vscode';
import {
    decodePreviewQuery,
    encodePreviewUri,
    exportedMatches,
    JSON_PREVIEW,
    type PreviewKind,
    type PreviewTarget,
    sameFileUri,
} from './previewUri';

export interface PreviewResult {
    ok: boolean;
    text: string;
}

export type PreviewFetcher = (target: PreviewTarget, token: vscode.CancellationToken) => Promise<PreviewResult>;

export function previewUri(target: PreviewTarget, kind: PreviewKind = JSON_PREVIEW): vscode.Uri {
    return vscode.Uri.from(encodePreviewUri(target, kind));
}

function failureText(target: PreviewTarget, message: string, kind: PreviewKind): string {
    const lines = message.trim() === '' ? ['(no message)'] : message.trimEnd().split(/\r?\n/);
    return [
        `// H2J: ${kind.doing} ${target.kernel} (example ${target.example}) failed.`,
        '// This preview updates when the kernel exports again.',
        '//',
        ...lines.map((line) => `// ${line}`),
        '',
    ].join('\n');
}

export class PreviewProvider implements vscode.TextDocumentContentProvider, vscode.Disposable {
    private readonly changed = new vscode.EventEmitter<vscode.Uri>();
    readonly onDidChange = this.changed.event;

    constructor(
        private readonly fetch: PreviewFetcher,
        readonly kind: PreviewKind = JSON_PREVIEW,
    ) {}

    async provideTextDocumentContent(uri: vscode.Uri, token: vscode.CancellationToken): Promise<string> {
        const target = decodePreviewQuery(uri.query);
        if (!target) {
            return '// H2J: not a preview of a kernel.\n';
        }
        try {
            const result = await this.fetch(target, token);
            if (typeof result?.text !== 'string') {
                return failureText(target, 'The server returned no preview.', this.kind);
            }
            return result.ok ? result.text : failureText(target, result.text, this.kind);
        } catch (error) {
            return failureText(target, error instanceof Error ? error.message : String(error), this.kind);
        }
    }

    /** Refresh every open preview that an `h2j/exported` notification concerns. */
    onExported(params: { uri?: unknown; kernel?: unknown; example?: unknown }): void {
        for (const document of vscode.workspace.textDocuments) {
            if (document.uri.scheme !== this.kind.scheme) {
                continue;
            }
            const target = decodePreviewQuery(document.uri.query);
            if (target && exportedMatches(target, params, sameFileUri)) {
                this.changed.fire(document.uri);
            }
        }
    }

    /** Refresh every open preview (after a server restart). */
    refreshAll(): void {
        for (const document of vscode.workspace.textDocuments) {
            if (document.uri.scheme === this.kind.scheme) {
                this.changed.fire(document.uri);
            }
        }
    }

    dispose(): void {
        this.changed.dispose();
    }
}

/** Open (or reveal) the preview of a kernel beside the editor. */
export async function openPreview(target: PreviewTarget, provider: PreviewProvider): Promise<vscode.TextEditor> {
    const uri = previewUri(target, provider.kind);
    const alreadyOpen = vscode.workspace.textDocuments.some((d) => d.uri.toString() === uri.toString());
    let document = await vscode.workspace.openTextDocument(uri);
    if (document.languageId !== provider.kind.languageId) {
        document = await vscode.languages.setTextDocumentLanguage(document, provider.kind.languageId);
    }
    const editor = await vscode.window.showTextDocument(document, {
        viewColumn: vscode.ViewColumn.Beside,
        preserveFocus: true,
        preview: false,
    });
    if (alreadyOpen) {
        provider.refreshAll();
    }
    return editor;
}
