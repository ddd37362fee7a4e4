/** @jsxImportSource preact */
// The page shell: one tab per view. Each view is `(props: { api: Api }) => JSX`: events.tsx,
// map.tsx (MapView) and traceloop.tsx (TraceloopView).

import { render } from 'preact';
import { useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { createApi } from './api.js';
import type { Api } from './api.js';
import { EventsView } from './events.js';
import { MapView } from './map.js';
import { TraceloopView } from './traceloop.js';
import './style.css';

interface View {
  id: string;
  title: string;
  view: (props: { api: Api }) => JSX.Element;
}

export const VIEWS: View[] = [
  { id: 'events', title: 'Events', view: EventsView },
  { id: 'map', title: 'Service map', view: MapView },
  { id: 'traceloop', title: 'traceloop', view: TraceloopView },
];

function App({ api }: { api: Api }): JSX.Element {
  const [tab, setTab] = useState(VIEWS[0]!.id);
  const current = VIEWS.find((v) => v.id === tab) ?? VIEWS[0]!;
  const Current = current.view;
  return (
    <div class="shell">
      <header>
        <span class="brand">kubectl gadget</span>
        <nav role="tablist">
          {VIEWS.map((v) => (
            <button
              role="tab"
              id={`tab-${v.id}`}
              aria-selected={v.id === tab}
              class={v.id === tab ? 'tab active' : 'tab'}
              onClick={() => setTab(v.id)}
            >
              {v.title}
            </button>
          ))}
        </nav>
      </header>
      <main id={`view-${current.id}`}>
        <Current api={api} />
      </main>
    </div>
  );
}

render(<App api={createApi()} />, document.getElementById('app')!);
