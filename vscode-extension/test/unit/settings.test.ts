import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
    changeAffectsServer,
    changeNeedsRestart,
    type ConfigReader,
    DEFAULT_SETTINGS,
    initializationOptions,
    readServerSettings,
    SERVER_SETTING_KEYS,
} from '../../src/settings';

function reader(values: Record<string, unknown>): ConfigReader {
    return { get: <T>(key: string) => values[key] as T | undefined };
}

describe('settings → initializationOptions', () => {
    it('gives the documented defaults when nothing is set', () => {
        assert.deepEqual(readServerSettings(reader({})), {
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
    });

    it('passes every server setting and the workspace trust', () => {
        const values = {
            workerPython: '/opt/venv/bin/python',
            remoteHost: 'gpu-box',
            remotePython: '/usr/bin/python3.12',
            remoteRoot: '/home/me/proj',
            sshArgs: ['-p', '2222'],
            trigger: 'save',
            debounceMs: 0,
            timeoutSeconds: 5,
            outDir: 'out/json',
            interpreter: ['/ignored'],
        };
        assert.deepEqual(initializationOptions(false, reader(values)), {
            trusted: false,
            settings: {
                workerPython: '/opt/venv/bin/python',
                remoteHost: 'gpu-box',
                remotePython: '/usr/bin/python3.12',
                remoteRoot: '/home/me/proj',
                sshArgs: ['-p', '2222'],
                trigger: 'save',
                debounceMs: 0,
                timeoutSeconds: 5,
                outDir: 'out/json',
            },
        });
        assert.equal(initializationOptions(true, reader({})).trusted, true);
    });

    it('has exactly the server keys of the interface, without the extension-only ones', () => {
        assert.deepEqual(
            [...SERVER_SETTING_KEYS].sort(),
            ['debounceMs', 'outDir', 'remoteHost', 'remotePython', 'remoteRoot', 'sshArgs', 'timeoutSeconds', 'trigger', 'workerPython'],
        );
        assert.ok(!('interpreter' in readServerSettings(reader({ interpreter: ['x'] }))));
    });

    it('replaces values of the wrong type by the defaults and treats empty strings as unset', () => {
        const settings = readServerSettings(
            reader({
                workerPython: '  ',
                remoteHost: 42,
                remotePython: '',
                sshArgs: ['-p', 2222],
                trigger: 'sometimes',
                debounceMs: -1,
                timeoutSeconds: 0,
                outDir: '',
            }),
        );
        assert.deepEqual(settings, { ...DEFAULT_SETTINGS, sshArgs: [] });
    });

    it('restarts the server only for the interpreter, and notifies it for its own settings', () => {
        const affects = (changed: string[]) => (section: string) => changed.some((c) => c === section || c.startsWith(`${section}.`));
        assert.equal(changeNeedsRestart(affects(['h2j.interpreter'])), true);
        assert.equal(changeNeedsRestart(affects(['h2j.remoteHost'])), false);
        assert.equal(changeAffectsServer(affects(['h2j.remoteHost'])), true);
        assert.equal(changeAffectsServer(affects(['h2j.interpreter'])), false);
        assert.equal(changeAffectsServer(affects(['editor.fontSize'])), false);
    });
});
