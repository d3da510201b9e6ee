import { useEffect, useState } from 'preact/hooks'
import { PRIORITY_VALUES, STATUS_VALUES } from './api'
import { emptyFilters, SORT_OPTIONS, stateLabel, type Filters, type Sort } from './model'

interface Props {
  filters: Filters
  onApply: (filters: Filters) => void
}

/** Check boxes and selects apply at once; the text fields when the form is submitted (Enter). */
export function FiltersForm({ filters, onApply }: Props) {
  const [draft, setDraft] = useState(filters)
  useEffect(() => setDraft(filters), [filters])

  const set = <K extends keyof Filters>(name: K, value: Filters[K], applyNow = false) => {
    const next = { ...draft, [name]: value }
    setDraft(next)
    if (applyNow) onApply(next)
  }
  const toggle = <T extends string>(list: T[], value: T, on: boolean) =>
    on ? [...list, value] : list.filter((v) => v !== value)

  return (
    <form
      class="filters"
      aria-label="Filters"
      onSubmit={(e) => {
        e.preventDefault()
        onApply(draft)
      }}
    >
      <fieldset>
        <legend>State</legend>
        {STATUS_VALUES.map((status) => (
          <label class="check" key={status}>
            <input
              type="checkbox"
              name="status"
              value={status}
              checked={draft.status.includes(status)}
              onChange={(e) => set('status', toggle(draft.status, status, e.currentTarget.checked), true)}
            />
            {stateLabel(status)}
          </label>
        ))}
      </fieldset>
      <fieldset>
        <legend>Priority</legend>
        {PRIORITY_VALUES.map((priority) => (
          <label class="check" key={priority}>
            <input
              type="checkbox"
              name="priority"
              value={priority}
              checked={draft.priority.includes(priority)}
              onChange={(e) =>
                set('priority', toggle(draft.priority, priority, e.currentTarget.checked), true)
              }
            />
            {priority}
          </label>
        ))}
      </fieldset>
      <div class="fields">
        <label>
          Search
          <input
            type="search"
            name="q"
            placeholder="id, message or resource"
            value={draft.q}
            onInput={(e) => set('q', e.currentTarget.value)}
          />
        </label>
        <label>
          Kind
          <input
            name="kind"
            placeholder="video.transcode"
            value={draft.kind}
            onInput={(e) => set('kind', e.currentTarget.value)}
          />
        </label>
        <label>
          Tags
          <input
            name="tag"
            placeholder="urgent, billing"
            value={draft.tag}
            onInput={(e) => set('tag', e.currentTarget.value)}
          />
        </label>
        <label>
          Updated after
          <input
            type="datetime-local"
            name="updated_after"
            step={1}
            value={draft.updatedAfter}
            onInput={(e) => set('updatedAfter', e.currentTarget.value)}
          />
        </label>
        <label>
          Updated before
          <input
            type="datetime-local"
            name="updated_before"
            step={1}
            value={draft.updatedBefore}
            onInput={(e) => set('updatedBefore', e.currentTarget.value)}
          />
        </label>
        <label>
          Sort
          <select
            name="sort"
            value={draft.sort}
            onChange={(e) => set('sort', e.currentTarget.value as Sort, true)}
          >
            {SORT_OPTIONS.map(([value, label]) => (
              <option value={value} key={value}>
                {label}
              </option>
            ))}
          </select>
        </label>
        <label>
          Per page
          <select
            name="limit"
            value={String(draft.limit)}
            onChange={(e) => set('limit', Number(e.currentTarget.value), true)}
          >
            {[10, 25, 50, 100].map((n) => (
              <option value={String(n)} key={n}>
                {n}
              </option>
            ))}
          </select>
        </label>
      </div>
      <div class="actions">
        <button type="submit">Apply filters</button>
        <button type="button" class="secondary" onClick={() => onApply(emptyFilters)}>
          Reset
        </button>
      </div>
    </form>
  )
}
