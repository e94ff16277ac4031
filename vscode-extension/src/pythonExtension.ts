// The Python extension's (ms-python.python) environments API, without depending on its npm package.
import * as vscode from 'vscode';

interface EnvironmentPath {
    id: string;
    path: string;
}

interface ResolvedEnvironment {
    executable: { uri?: vscode.Uri };
}

interface PythonExtensionApi {
    ready?: Promise<void>;
    environments: {
        getActiveEnvironmentPath(resource?: vscode.Uri | vscode.WorkspaceFolder): EnvironmentPath;
        resolveEnvironment(environment: EnvironmentPath | string): Promise<ResolvedEnvironment | undefined>;
        onDidChangeActiveEnvironmentPath: vscode.Event<unknown>;
    };
}

export const PYTHON_EXTENSION_ID = 'ms-python.python';

async function api(): Promise<PythonExtensionApi | undefined> {
    const extension = vscode.extensions.getExtension<PythonExtensionApi>(PYTHON_EXTENSION_ID);
    if (!extension) {
        return undefined;
    }
    const exports = extension.isActive ? extension.exports : await extension.activate();
    if (!exports?.environments) {
        return undefined;
    }
    await exports.ready;
    return exports;
}

/** The active interpreter's executable for the resource, or undefined (no Python extension, or none selected). */
export async function activeInterpreter(resource?: vscode.Uri): Promise<string | undefined> {
    const python = await api();
    if (!python) {
        return undefined;
    }
    const active = python.environments.getActiveEnvironmentPath(resource);
    const resolved = await python.environments.resolveEnvironment(active);
    return resolved?.executable.uri?.fsPath ?? (active.path || undefined);
}

/** Calls `listener` when the user selects another interpreter in the Python extension. */
export async function onDidChangeInterpreter(listener: () => void): Promise<vscode.Disposable> {
    try {
        const python = await api();
        if (python) {
            return python.environments.onDidChangeActiveEnvironmentPath(() => listener());
        }
    } catch {
        // A Python extension that fails to activate is treated as absent.
    }
    return new vscode.Disposable(() => undefined);
}
