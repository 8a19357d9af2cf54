# awx_display - stdout callback plugin of receptor-c's ansible-runner-c.
#
# ansible-playbook loads only Python callback plugins, so the C runner ships
# this one.  It is written for receptor-c and produces the same observable
# output as the plugin bundled with ansible-runner 2.3.1, because the C
# stdout parser (src/runner/evfilter.c) and real ansible-runner processors
# both depend on it:
#
#   * for every event it writes $AWX_ISOLATED_DATA_DIR/job_events/<uuid>-partial.json
#     (written to <name>.tmp with mode 0600, then renamed) holding the event
#     dict: event, [job_id|ad_hoc_command_id|project_update_id], pid, uuid,
#     created, [parent_uuid], [verbosity], event_data;
#   * around the event's normal human output it prints a begin marker
#     carrying {"uuid": ...} and an end marker carrying {}: ESC[K, then the
#     base64 of the JSON in pieces of at most 78 characters each followed by
#     ESC[<len>D, then ESC[K.
#
# The human output itself comes from the callback named by
# ORIGINAL_STDOUT_CALLBACK, or "minimal" for ad-hoc runs, or "default".
# Text that Ansible prints outside any callback (warnings, errors, -v
# output) gets its own event through a wrapper around Display.display.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import contextlib
import datetime
import json
import multiprocessing
import os
import stat
import sys
import threading
import uuid as uuidlib
from copy import copy

from ansible import constants as C
from ansible.plugins.callback import CallbackBase
from ansible.plugins.loader import callback_loader
from ansible.utils.display import Display

DOCUMENTATION = '''
    callback: awx_display
    short_description: event markers and partial event files for ansible-runner-c
    description:
        - Emits ansible-runner compatible job events (receptor-c implementation).
    type: stdout
    extends_documentation_fragment:
      - default_callback
    requirements:
      - Set as stdout callback
'''

NO_LOG_TEXT = "the output has been hidden due to the fact that 'no_log: true' was specified for this result"
DISPLAY_EVENT_KEYS = ('debug', 'verbose', 'deprecated', 'warning', 'system_warning', 'error')
FAILED_EVENTS = ('runner_on_failed', 'runner_on_async_failed', 'runner_on_item_failed')
MARKER_PIECE = 78

ADHOC = os.getenv('AD_HOC_COMMAND_ID') or False


def _base_callback_name():
    wanted = os.getenv('ORIGINAL_STDOUT_CALLBACK')
    if wanted:
        return wanted
    return 'minimal' if ADHOC else 'default'


BaseStdout = callback_loader.get(_base_callback_name()).__class__


def utc_now():
    # naive UTC, as ansible-runner 2.3.1 writes it
    return datetime.datetime.utcnow()


class PartialEncoder(json.JSONEncoder):
    """JSON for event data: vaulted values and datetimes become text."""

    def default(self, o):
        if getattr(o, 'yaml_tag', None) == '!vault':
            text = o._ciphertext
            if isinstance(text, bytes):
                text = text.decode('utf-8')
            return {'__ansible_vault': text}
        if isinstance(o, (datetime.date, datetime.datetime)):
            return o.isoformat()
        return json.JSONEncoder.default(self, o)


def write_partial(event_dict):
    base = os.getenv('AWX_ISOLATED_DATA_DIR')
    if not base:
        return
    events_dir = os.path.join(base, 'job_events')
    if not os.path.exists(events_dir):
        os.mkdir(events_dir, 0o700)
    final = os.path.join(events_dir, '%s-partial.json' % event_dict['uuid'])
    staging = final + '.tmp'
    text = json.dumps(event_dict, cls=PartialEncoder)
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, 'w') as handle:
        handle.write(text)
    os.rename(staging, final)


def write_marker(stream, payload, flush=False):
    encoded = base64.b64encode(json.dumps(payload).encode('utf-8')).decode()
    parts = ['\x1b[K']
    for start in range(0, len(encoded), MARKER_PIECE):
        piece = encoded[start:start + MARKER_PIECE]
        parts.append('%s\x1b[%dD' % (piece, len(piece)))
    parts.append('\x1b[K')
    with CONTEXT.lock:
        for part in parts:
            stream.write(part)
        if flush:
            stream.flush()


class Context:
    """Event fields: a process-wide part (playbook/play/task) and a
    per-thread part (the event being emitted)."""

    def __init__(self):
        self.lock = multiprocessing.RLock()
        self.shared = {}
        self.tls = threading.local()

    def local(self):
        if not hasattr(self.tls, 'fields'):
            self.tls.fields = {}
        return self.tls.fields

    def push_local(self, **fields):
        self.local().update(fields)

    def pop_local(self, *names):
        fields = self.local()
        for name in names:
            fields.pop(name, None)

    def push_shared(self, **fields):
        self.shared.update(fields)

    def pop_shared(self, *names):
        for name in names:
            self.shared.pop(name, None)

    @contextlib.contextmanager
    def scoped_local(self, **fields):
        try:
            self.push_local(**fields)
            yield
        finally:
            self.pop_local(*fields)

    def snapshot(self):
        merged = dict(self.shared)
        merged.update(self.local())
        return merged

    def begin_event(self):
        data = self.snapshot()
        name = data.pop('event', None)
        if not name:
            name = next((k for k in DISPLAY_EVENT_KEYS if data.get(k, False)), 'verbose')
        ev = {'event': name}
        for env_name, key in (('JOB_ID', 'job_id'), ('AD_HOC_COMMAND_ID', 'ad_hoc_command_id'),
                              ('PROJECT_UPDATE_ID', 'project_update_id')):
            if os.getenv(env_name, ''):
                ev[key] = int(os.getenv(env_name, '0'))
        ev['pid'] = data.get('pid', os.getpid())
        ev['uuid'] = data.get('uuid', str(uuidlib.uuid4()))
        ev['created'] = data.get('created', utc_now().isoformat())
        if data.get('parent_uuid', None):
            ev['parent_uuid'] = data.get('parent_uuid')
        else:
            for key in ('task_uuid', 'play_uuid', 'playbook_uuid'):
                candidate = data.get(key, None)
                if candidate and candidate != data.get('uuid', None):
                    ev['parent_uuid'] = candidate
                    break
        if 'verbosity' in data:
            ev['verbosity'] = data.pop('verbosity')
        omit = os.getenv('RUNNER_OMIT_EVENTS', 'False').lower() == 'true'
        only_failed = os.getenv('RUNNER_ONLY_FAILED_EVENTS', 'False').lower() == 'true'
        keep = not omit and (not only_failed or name in FAILED_EVENTS)
        if keep:
            limit = int(os.getenv('MAX_EVENT_RES', '700000'))
            if name != 'playbook_on_stats' and 'res' in data and len(str(data['res'])) > limit:
                data['res'] = {}
        else:
            data = {}
        ev['event_data'] = data
        return ev

    def start(self, stream):
        ev = self.begin_event()
        write_partial(ev)
        write_marker(stream, {'uuid': ev['uuid']})

    def finish(self, stream):
        write_marker(stream, {}, flush=True)


CONTEXT = Context()


def _flagging(method, flag):
    def wrapped(*args, **kwargs):
        with CONTEXT.scoped_local(**{flag: True}):
            return method(*args, **kwargs)
    wrapped.__name__ = getattr(method, '__name__', flag)
    wrapped.__doc__ = getattr(method, '__doc__', None)
    return wrapped


def _patch_display():
    skip = ('display', 'v', 'vv', 'vvv', 'vvvv', 'vvvvv', 'vvvvvv', 'verbose')
    for name in dir(Display):
        if name.startswith('_') or 'cow' in name or 'prompt' in name or name in skip:
            continue
        member = getattr(Display, name)
        if callable(member):
            setattr(Display, name, _flagging(member, name))

    original_verbose = Display.verbose

    def verbose(*args, **kwargs):
        host = args[2] if len(args) >= 3 else kwargs.get('host', None)
        caplevel = args[3] if len(args) >= 4 else kwargs.get('caplevel', 2)
        fields = {'verbose': True, 'verbosity': caplevel + 1}
        if host is not None:
            fields['remote_addr'] = host
        with CONTEXT.scoped_local(**fields):
            return original_verbose(*args, **kwargs)

    Display.verbose = verbose

    original_display = Display.display

    def display(*args, **kwargs):
        log_only = args[5] if len(args) >= 6 else kwargs.get('log_only', False)
        to_stderr = args[3] if len(args) >= 4 else kwargs.get('stderr', False)
        with CONTEXT.lock:
            if log_only or CONTEXT.snapshot().get('uuid', None):
                return original_display(*args, **kwargs)
            stream = sys.stderr if to_stderr else sys.stdout
            try:
                CONTEXT.push_local(uuid=str(uuidlib.uuid4()))
                CONTEXT.start(stream)
                return original_display(*args, **kwargs)
            finally:
                CONTEXT.finish(stream)
                CONTEXT.pop_local('uuid')

    Display.display = display


_patch_display()

TASK_FIELDS = ('task', 'task_path', 'task_uuid', 'task_action', 'task_args', 'resolved_action',
               'role', 'resolved_role')


def _censor(res):
    if res.get('_ansible_no_log', False):
        res = {'censored': NO_LOG_TEXT}
    if res.get('results', []):
        res['results'] = copy(res['results'])
    for index, item in enumerate(res.get('results', [])):
        if isinstance(item, dict) and item.get('_ansible_no_log', False):
            res['results'][index] = {'censored': NO_LOG_TEXT}
    return res


class CallbackModule(BaseStdout):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'stdout'
    CALLBACK_NAME = 'awx_display'

    NO_PLAY_EVENTS = ('playbook_on_start', 'playbook_on_stats')
    NO_TASK_EVENTS = NO_PLAY_EVENTS + (
        'playbook_on_setup', 'playbook_on_notify', 'playbook_on_import_for_host',
        'playbook_on_not_import_for_host', 'playbook_on_no_hosts_matched',
        'playbook_on_no_hosts_remaining')

    def __init__(self):
        super(CallbackModule, self).__init__()
        self._started = {}
        self._seen_tasks = set()
        self._task_repeats = {}
        self._seen_plays = set()
        self._play_repeats = {}
        self.playbook_uuid = str(uuidlib.uuid4())

    # -- context -----------------------------------------------------------

    @contextlib.contextmanager
    def event(self, *which, **data):
        # the event name is positional: 'name' is also an event_data key
        name = which[0]
        data.setdefault('uuid', str(uuidlib.uuid4()))
        task = data.pop('task', None) if name not in self.NO_TASK_EVENTS else None
        if data.get('res'):
            data['res'] = _censor(data['res'])
        with CONTEXT.lock:
            try:
                CONTEXT.push_local(event=name, **data)
                if task:
                    self._set_task(task, local=True)
                CONTEXT.start(sys.stdout)
                yield
            finally:
                CONTEXT.finish(sys.stdout)
                if task:
                    self._clear_task(local=True)
                CONTEXT.pop_local('event', *data)

    def _set_playbook(self, playbook):
        CONTEXT.push_shared(playbook=getattr(playbook, '_file_name', '???'),
                            playbook_uuid=self.playbook_uuid)
        self._clear_play()

    @staticmethod
    def _pattern(play):
        if not hasattr(play, 'hosts'):
            return ''
        return ','.join(play.hosts) if isinstance(play.hosts, list) else play.hosts

    def _set_play(self, play):
        pattern = self._pattern(play)
        CONTEXT.push_shared(play=play.get_name().strip() or pattern, play_uuid=str(play._uuid),
                            play_pattern=pattern)
        self._clear_task()

    def _clear_play(self):
        CONTEXT.pop_shared('play', 'play_uuid', 'play_pattern')
        self._clear_task()

    def _set_task(self, task, local=False):
        self._clear_task(local)
        fields = {
            'task': task.name or task.action,
            'task_uuid': str(task._uuid),
            'task_action': task.action,
            'resolved_action': getattr(task, 'resolved_action', task.action),
            'task_args': '',
        }
        try:
            fields['task_path'] = task.get_path()
        except AttributeError:
            pass
        if C.DISPLAY_ARGS_TO_STDOUT:
            if task.no_log:
                fields['task_args'] = NO_LOG_TEXT
            else:
                fields['task_args'] = ', '.join('%s=%s' % kv for kv in task.args.items())
        if getattr(task, '_role', None):
            role = task._role._role_name
            if hasattr(task._role, 'get_name'):
                resolved = task._role.get_name()
                if resolved != role:
                    fields['resolved_role'] = resolved
        else:
            role = getattr(task, 'role_name', '')
        if role:
            fields['role'] = role
        (CONTEXT.push_local if local else CONTEXT.push_shared)(**fields)

    def _clear_task(self, local=False):
        (CONTEXT.pop_local if local else CONTEXT.pop_shared)(*TASK_FIELDS)

    @staticmethod
    def _unique(uuid_text, seen, repeats):
        if uuid_text in seen:
            repeats[uuid_text] = repeats.get(uuid_text, 1) + 1
            uuid_text = '%s_%d' % (uuid_text, repeats[uuid_text])
        seen.add(uuid_text)
        return uuid_text

    def _timing(self, result):
        started = self._started.get(result._host.get_name())
        if not started:
            return None, None, None
        ended = utc_now()
        return started, ended, (ended - started).total_seconds()

    @staticmethod
    def _loop_of(task):
        if hasattr(task, 'loop_with'):
            return task.loop_with
        if hasattr(task, 'loop'):
            return task.loop
        return None

    # -- playbook level ----------------------------------------------------

    def v2_playbook_on_start(self, playbook):
        self._set_playbook(playbook)
        with self.event('playbook_on_start', uuid=self.playbook_uuid):
            super(CallbackModule, self).v2_playbook_on_start(playbook)

    def v2_playbook_on_vars_prompt(self, varname, private=True, prompt=None, encrypt=None,
                                   confirm=False, salt_size=None, salt=None, default=None,
                                   unsafe=None):
        with self.event('playbook_on_vars_prompt', varname=varname, private=private,
                        prompt=prompt, encrypt=encrypt, confirm=confirm, salt_size=salt_size,
                        salt=salt, default=default, unsafe=unsafe):
            super(CallbackModule, self).v2_playbook_on_vars_prompt(
                varname, private, prompt, encrypt, confirm, salt_size, salt, default)

    def v2_playbook_on_include(self, included_file):
        name = included_file._filename if included_file is not None else None
        with self.event('playbook_on_include', included_file=name):
            super(CallbackModule, self).v2_playbook_on_include(included_file)

    def v2_playbook_on_play_start(self, play):
        if ADHOC:
            return
        play._uuid = self._unique(str(play._uuid), self._seen_plays, self._play_repeats)
        self._set_play(play)
        pattern = self._pattern(play)
        with self.event('playbook_on_play_start', name=play.get_name().strip() or pattern,
                        pattern=pattern, uuid=str(play._uuid)):
            super(CallbackModule, self).v2_playbook_on_play_start(play)

    def v2_playbook_on_import_for_host(self, result, imported_file):
        with self.event('playbook_on_import_for_host'):
            super(CallbackModule, self).v2_playbook_on_import_for_host(result, imported_file)

    def v2_playbook_on_not_import_for_host(self, result, missing_file):
        with self.event('playbook_on_not_import_for_host'):
            super(CallbackModule, self).v2_playbook_on_not_import_for_host(result, missing_file)

    def v2_playbook_on_setup(self):
        with self.event('playbook_on_setup'):
            super(CallbackModule, self).v2_playbook_on_setup()

    def v2_playbook_on_task_start(self, task, is_conditional):
        if ADHOC:
            self._set_task(task)
            return
        task_uuid = self._unique(str(task._uuid), self._seen_tasks, self._task_repeats)
        self._set_task(task)
        with self.event('playbook_on_task_start', task=task, name=task.get_name(),
                        is_conditional=is_conditional, uuid=task_uuid):
            super(CallbackModule, self).v2_playbook_on_task_start(task, is_conditional)

    def v2_playbook_on_cleanup_task_start(self, task):
        self._set_task(task)
        with self.event('playbook_on_task_start', task=task, name=task.get_name(),
                        uuid=str(task._uuid), is_conditional=True):
            super(CallbackModule, self).v2_playbook_on_cleanup_task_start(task)

    def v2_playbook_on_handler_task_start(self, task):
        self._set_task(task)
        with self.event('playbook_on_task_start', task=task, name=task.get_name(),
                        uuid=str(task._uuid), is_conditional=True):
            super(CallbackModule, self).v2_playbook_on_handler_task_start(task)

    def v2_playbook_on_no_hosts_matched(self):
        with self.event('playbook_on_no_hosts_matched'):
            super(CallbackModule, self).v2_playbook_on_no_hosts_matched()

    def v2_playbook_on_no_hosts_remaining(self):
        with self.event('playbook_on_no_hosts_remaining'):
            super(CallbackModule, self).v2_playbook_on_no_hosts_remaining()

    def v2_playbook_on_notify(self, handler, host):
        with self.event('playbook_on_notify', host=host.get_name(), handler=handler.get_name()):
            super(CallbackModule, self).v2_playbook_on_notify(handler, host)

    def v2_playbook_on_stats(self, stats):
        self._clear_play()
        custom = stats.custom.get('_run', {}) if hasattr(stats, 'custom') else {}
        with self.event('playbook_on_stats', changed=stats.changed, dark=stats.dark,
                        failures=stats.failures, ignored=getattr(stats, 'ignored', 0),
                        ok=stats.ok, processed=stats.processed,
                        rescued=getattr(stats, 'rescued', 0), skipped=stats.skipped,
                        artifact_data=custom):
            super(CallbackModule, self).v2_playbook_on_stats(stats)

    # -- host level --------------------------------------------------------

    def v2_runner_on_start(self, host, task):
        self._started[host.get_name()] = utc_now()
        with self.event('runner_on_start', host=host.get_name(), task=task):
            super(CallbackModule, self).v2_runner_on_start(host, task)

    def v2_runner_on_ok(self, result):
        if result._task.action in ('setup', 'gather_facts'):
            result._result.get('ansible_facts', {}).pop('ansible_env', None)
        start, end, duration = self._timing(result)
        with self.event('runner_on_ok', host=result._host.get_name(),
                        remote_addr=result._host.address, task=result._task, res=result._result,
                        start=start, end=end, duration=duration,
                        event_loop=self._loop_of(result._task)):
            super(CallbackModule, self).v2_runner_on_ok(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        start, end, duration = self._timing(result)
        with self.event('runner_on_failed', host=result._host.get_name(),
                        remote_addr=result._host.address, res=result._result, task=result._task,
                        start=start, end=end, duration=duration, ignore_errors=ignore_errors,
                        event_loop=self._loop_of(result._task)):
            super(CallbackModule, self).v2_runner_on_failed(result, ignore_errors)

    def v2_runner_on_skipped(self, result):
        start, end, duration = self._timing(result)
        with self.event('runner_on_skipped', host=result._host.get_name(),
                        remote_addr=result._host.address, task=result._task, start=start,
                        end=end, duration=duration, event_loop=self._loop_of(result._task)):
            super(CallbackModule, self).v2_runner_on_skipped(result)

    def v2_runner_on_unreachable(self, result):
        start, end, duration = self._timing(result)
        with self.event('runner_on_unreachable', host=result._host.get_name(),
                        remote_addr=result._host.address, task=result._task, start=start,
                        end=end, duration=duration, res=result._result):
            super(CallbackModule, self).v2_runner_on_unreachable(result)

    def v2_runner_on_no_hosts(self, task):
        with self.event('runner_on_no_hosts', task=task):
            super(CallbackModule, self).v2_runner_on_no_hosts(task)

    def _async(self, name, result, parent):
        with self.event(name, host=result._host.get_name(), task=result._task,
                        res=result._result, jid=result._result.get('ansible_job_id')):
            parent(result)

    def v2_runner_on_async_poll(self, result):
        self._async('runner_on_async_poll', result, super(CallbackModule, self).v2_runner_on_async_poll)

    def v2_runner_on_async_ok(self, result):
        self._async('runner_on_async_ok', result, super(CallbackModule, self).v2_runner_on_async_ok)

    def v2_runner_on_async_failed(self, result):
        self._async('runner_on_async_failed', result,
                    super(CallbackModule, self).v2_runner_on_async_failed)

    def v2_runner_on_file_diff(self, result, diff):
        with self.event('runner_on_file_diff', host=result._host.get_name(), task=result._task,
                        diff=diff):
            super(CallbackModule, self).v2_runner_on_file_diff(result, diff)

    def v2_on_file_diff(self, result):
        with self.event('runner_on_file_diff', host=result._host.get_name(), task=result._task,
                        diff=result._result.get('diff')):
            super(CallbackModule, self).v2_on_file_diff(result)

    def _item(self, name, result, parent):
        with self.event(name, host=result._host.get_name(), task=result._task,
                        res=result._result):
            parent(result)

    def v2_runner_item_on_ok(self, result):
        self._item('runner_item_on_ok', result, super(CallbackModule, self).v2_runner_item_on_ok)

    def v2_runner_item_on_failed(self, result):
        self._item('runner_item_on_failed', result,
                   super(CallbackModule, self).v2_runner_item_on_failed)

    def v2_runner_item_on_skipped(self, result):
        self._item('runner_item_on_skipped', result,
                   super(CallbackModule, self).v2_runner_item_on_skipped)

    def v2_runner_retry(self, result):
        self._item('runner_retry', result, super(CallbackModule, self).v2_runner_retry)
