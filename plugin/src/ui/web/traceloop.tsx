/** @jsxImportSource preact */
// The traceloop view: the recordings `traceloop list` shows; open one to read its syscalls as
// `traceloop show` prints them (the server runs show itself and sends its lines), narrowed by
// show's -F filters and --last (server side) and by a text search (here). Text nodes only.

import { useEffect, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import type { Api, ApiError } from './api.js';
import type { Recording, RecordingText } from '../../services/ui/view-types.js';

const LIST_COLUMNS = [
  'node',
  'namespace',
  'pod',
  'container',
  'container_id',
  'instance',
  'state',
  'records',
  'lost',
];

function ErrorLine({ error }: { error: ApiError | undefined }): JSX.Element | null {
  if (!error) return null;
  return (
    <p class="error">
      {error.message}
      {error.hint ? ` (${error.hint})` : ''}
    </p>
  );
}

export function TraceloopView({ api }: { api: Api }): JSX.Element {
  const [recordings, setRecordings] = useState<Recording[] | undefined>();
  const [error, setError] = useState<ApiError | undefined>();
  const [open, setOpen] = useState<Recording | undefined>();
  const [text, setText] = useState<RecordingText | undefined>();
  const [filters, setFilters] = useState('');
  const [last, setLast] = useState('');
  const [search, setSearch] = useState('');
  const [busy, setBusy] = useState(false);

  const refresh = (): void => {
    setError(undefined);
    api.get<{ recordings: Recording[] }>('/api/traceloop/list').then(
      (r) => setRecordings(r.recordings),
      (e: ApiError) => setError(e),
    );
  };
  useEffect(refresh, []);

  const show = (rec: Recording): void => {
    setOpen(rec);
    setBusy(true);
    setError(undefined);
    api
      .get<RecordingText>('/api/traceloop/show', {
        container: rec.container,
        instance: String(rec.instance),
        session: rec.session,
        // one -F expression a line, as typed after -F
        filter: filters.split('\n').filter((f) => f.trim()),
        last: last.trim() || undefined,
      })
      .then(
        (t) => setText(t),
        (e: ApiError) => {
          setText(undefined);
          setError(e);
        },
      )
      .finally(() => setBusy(false));
  };

  const needle = search.toLowerCase();
  const shown = text ? text.lines.filter((l) => !needle || l.toLowerCase().includes(needle)) : [];
  // as list does: no namespace/pod columns when no recording is a pod's
  const k8s = (recordings ?? []).some((r) => r.row.namespace || r.row.pod);
  const columns = LIST_COLUMNS.filter((c) => k8s || (c !== 'namespace' && c !== 'pod'));
  return (
    <div class="traceloop-view">
      <div class="controls">
        <button id="tl-refresh" onClick={refresh}>
          Refresh recordings
        </button>
      </div>
      <ErrorLine error={error} />
      {recordings && recordings.length === 0 && (
        <p class="note">No recordings. Start recording with `kubectl gadget traceloop start`.</p>
      )}
      {recordings && recordings.length > 0 && (
        <table id="tl-recordings" class="events">
          <thead>
            <tr>
              {columns.map((c) => (
                <th>{c.toUpperCase()}</th>
              ))}
              <th />
            </tr>
          </thead>
          <tbody>
            {recordings.map((r) => (
              <tr
                class={open === r ? 'selected' : ''}
                data-container={r.container}
                data-instance={r.instance}
              >
                {columns.map((c) => (
                  <td>{String(r.row[c] ?? '')}</td>
                ))}
                <td>
                  <button class="tl-open" onClick={() => show(r)}>
                    Open
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {open && (
        <div class="recording">
          <div class="controls">
            <label>
              -F filters (one a line, e.g. syscall:openat, ret:&lt;0, comm:~^sh)
              <textarea
                id="tl-filters"
                rows={2}
                cols={40}
                value={filters}
                onInput={(e) => setFilters(e.currentTarget.value)}
              />
            </label>
            <label>
              --last
              <input
                id="tl-last"
                size={6}
                value={last}
                onInput={(e) => setLast(e.currentTarget.value)}
              />
            </label>
            <button id="tl-apply" disabled={busy} onClick={() => show(open)}>
              Apply
            </button>
            <label>
              Search
              <input
                id="tl-search"
                value={search}
                onInput={(e) => setSearch(e.currentTarget.value)}
              />
            </label>
          </div>
          {text && (
            <>
              <p id="tl-count">
                {shown.length === text.lines.length
                  ? `${text.lines.length} record(s)`
                  : `${shown.length} of ${text.lines.length} record(s) match "${search}"`}
              </p>
              {text.notes.map((n) => (
                <p class="note">{n}</p>
              ))}
              <pre id="tl-show">
                <div class="tl-header">{text.header}</div>
                {shown.map((l) => (
                  <div class="tl-line">{l}</div>
                ))}
              </pre>
            </>
          )}
        </div>
      )}
    </div>
  );
}
