import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeInterpreter, expandVariables, resolveInterpreter, serverCommandLine } from '../../src/interpreter';

describe('interpreter resolution order', () => {
    it('uses the h2j.interpreter setting first, without asking the Python extension', async () => {
        let asked = false;
        const interpreter = await resolveInterpreter({
            setting: ['${workspaceFolder}/.venv/bin/python', '-X', 'utf8'],
            pythonExtension: async () => {
                asked = true;
                return '/from/extension/python';
            },
            workspaceFolder: '/work/proj',
        });
        assert.deepEqual(interpreter, { command: '/work/proj/.venv/bin/python', args: ['-X', 'utf8'], source: 'setting' });
        assert.equal(asked, false);
        assert.deepEqual(serverCommandLine(interpreter), { command: '/work/proj/.venv/bin/python', args: ['-X', 'utf8', '-m', 'h2j_lsp'] });
    });

    it("uses the Python extension's active interpreter when the setting is empty", async () => {
        for (const setting of [undefined, [], ['']]) {
            const interpreter = await resolveInterpreter({ setting, pythonExtension: async () => '/envs/a/bin/python' });
            assert.deepEqual(interpreter, { command: '/envs/a/bin/python', args: [], source: 'python-extension' });
        }
    });

    it('falls back to python3 without the Python extension, when it has no interpreter, or when it fails', async () => {
        const fallbacks = [
            await resolveInterpreter({ setting: [], platform: 'linux' }),
            await resolveInterpreter({ setting: [], pythonExtension: async () => undefined, platform: 'darwin' }),
            await resolveInterpreter({
                setting: [],
                pythonExtension: async () => {
                    throw new Error('activation failed');
                },
                platform: 'linux',
            }),
        ];
        for (const interpreter of fallbacks) {
            assert.deepEqual(interpreter, { command: 'python3', args: [], source: 'default' });
        }
        assert.equal((await resolveInterpreter({ setting: [], platform: 'win32' })).command, 'python');
    });

    it('expands ~, ${userHome} and ${env:NAME}', () => {
        assert.equal(expandVariables('~/venv/bin/python', { home: '/home/me' }), '/home/me/venv/bin/python');
        assert.equal(expandVariables('${userHome}/py', { home: '/home/me' }), '/home/me/py');
        assert.equal(expandVariables('${env:VENV}/bin/python', { env: { VENV: '/v' } }), '/v/bin/python');
        assert.equal(expandVariables('${workspaceFolder}/x', {}), '${workspaceFolder}/x');
        assert.equal(expandVariables('a~b', { home: '/home/me' }), 'a~b');
    });

    it('says where the interpreter came from', () => {
        assert.match(describeInterpreter({ command: 'python3', args: [], source: 'default' }), /default/);
        assert.match(describeInterpreter({ command: '/p', args: ['-I'], source: 'setting' }), /^\/p -I \(from the h2j\.interpreter setting\)$/);
    });
});
