import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { diagnoseProbe, type StartProblem, diagnoseServerExit, firstErrorLine, INSTALL_COMMAND } from '../../src/startup';
import { parseStatus, presentStatus } from '../../src/status';

const message = (problem: StartProblem): string => (problem.kind === 'ok' ? '' : problem.message);

describe('start-up problems', () => {
    it('accepts a Python that has the server', () => {
        const problem = diagnoseProbe('/v/bin/python', [], {
            code: 0,
            stdout: '{"python": "3.12.1", "executable": "/v/bin/python", "missing": []}\n',
            stderr: '',
        });
        assert.deepEqual(problem, { kind: 'ok', python: '3.12.1', executable: '/v/bin/python' });
    });

    it('says how to install a missing server', () => {
        const problem = diagnoseProbe('python3', [], {
            code: 0,
            stdout: '{"python": "3.11.2", "executable": "/usr/bin/python3", "missing": ["h2j_lsp", "pygls"]}',
            stderr: '',
        });
        assert.equal(problem.kind, 'not-installed');
        assert.ok(message(problem).includes('No module named h2j_lsp'));
        assert.ok(message(problem).includes(`Install with: ${INSTALL_COMMAND}`));
        assert.ok(message(problem).includes('/usr/bin/python3'));
    });

    it('names an interpreter that does not exist', () => {
        const problem = diagnoseProbe('/nope/python', ['-X', 'dev'], { code: null, stdout: '', stderr: '', spawnError: 'ENOENT' });
        assert.equal(problem.kind, 'no-interpreter');
        assert.ok(message(problem).includes('"/nope/python -X dev"') && message(problem).includes('h2j.interpreter'));
    });

    it('reports a broken interpreter with its error', () => {
        const problem = diagnoseProbe('python2', [], { code: 1, stdout: '', stderr: '  File "<string>", line 2\nSyntaxError: invalid syntax\n' });
        assert.equal(problem.kind, 'broken');
        assert.ok(message(problem).includes('SyntaxError: invalid syntax'));
    });

    it('recognises a server that exits on a missing module', () => {
        const exit = diagnoseServerExit('/v/bin/python', [], '/v/bin/python: No module named h2j_lsp\n');
        assert.equal(exit?.kind, 'not-installed');
        assert.ok(exit?.message.includes(INSTALL_COMMAND));
        const dep = diagnoseServerExit('/v/bin/python', [], "Traceback (most recent call last):\nModuleNotFoundError: No module named 'pygls'\n");
        assert.equal(dep?.kind, 'not-installed');
        const other = diagnoseServerExit('/v/bin/python', [], "Traceback:\nModuleNotFoundError: No module named 'numpy'\n");
        assert.equal(other?.kind, 'broken');
        assert.equal(diagnoseServerExit('p', [], ''), undefined);
    });

    it('finds the exception line of a traceback', () => {
        assert.equal(firstErrorLine('Traceback (most recent call last):\n  File "x", line 1\nValueError: bad\n\n'), 'ValueError: bad');
        assert.equal(firstErrorLine('just text\nlast line\n'), 'last line');
        assert.equal(firstErrorLine(''), undefined);
    });
});

describe('status bar', () => {
    it('shows host and state, and colours failures', () => {
        assert.deepEqual(presentStatus({ state: 'idle', host: 'local', message: '' }).text, '$(check) H2J: local idle');
        const failed = presentStatus({ state: 'failed', host: 'gpu-box', message: 'worker crashed' });
        assert.equal(failed.text, '$(error) H2J: gpu-box failed');
        assert.equal(failed.severity, 'error');
        assert.match(failed.tooltip, /worker crashed/);
        assert.equal(presentStatus({ state: 'untrusted', host: 'local', message: '' }).severity, 'warning');
    });

    it('ignores malformed notifications', () => {
        assert.equal(parseStatus({ state: 'bogus' }), undefined);
        assert.equal(parseStatus(null), undefined);
        assert.deepEqual(parseStatus({ state: 'exporting' }), { state: 'exporting', host: 'local', message: '' });
    });
});
