import { useState } from 'preact/hooks'
import { createApi } from './api'
import { Dashboard } from './dashboard'
import { explainRefusal } from './model'

const KEY_STORAGE = 'status-tracker.api-key'

export function App() {
  const [apiKey, setApiKey] = useState(() => sessionStorage.getItem(KEY_STORAGE) ?? '')
  const [notice, setNotice] = useState('')

  const signOut = (reason = '') => {
    sessionStorage.removeItem(KEY_STORAGE)
    setApiKey('')
    setNotice(reason)
  }

  if (!apiKey) {
    return (
      <SignIn
        notice={notice}
        onSignedIn={(key) => {
          sessionStorage.setItem(KEY_STORAGE, key)
          setNotice('')
          setApiKey(key)
        }}
      />
    )
  }
  return <Dashboard key={apiKey} apiKey={apiKey} onSignOut={signOut} />
}

function SignIn({ notice, onSignedIn }: { notice: string; onSignedIn: (key: string) => void }) {
  const [key, setKey] = useState('')
  const [error, setError] = useState('')
  const [checking, setChecking] = useState(false)

  async function submit(event: Event) {
    event.preventDefault()
    const candidate = key.trim()
    if (!candidate) return setError('Enter an API key.')
    setChecking(true)
    setError('')
    try {
      await createApi(candidate).stats()
      onSignedIn(candidate)
    } catch (err) {
      setError(explainRefusal(err))
      setChecking(false)
    }
  }

  return (
    <main class="sign-in">
      <h1>Status Tracker</h1>
      <form onSubmit={submit} aria-describedby="sign-in-help">
        <p id="sign-in-help">
          Enter an API key with the <code>status:read</code> scope. It is kept only in this browser tab.
        </p>
        {notice && (
          <p class="notice" role="status">
            {notice}
          </p>
        )}
        <label for="api-key">API key</label>
        <input
          id="api-key"
          name="api-key"
          type="password"
          autocomplete="off"
          spellcheck={false}
          value={key}
          onInput={(e) => setKey(e.currentTarget.value)}
          aria-invalid={error ? 'true' : undefined}
          aria-describedby={error ? 'sign-in-error' : undefined}
          autofocus
        />
        <button type="submit" disabled={checking}>
          {checking ? 'Checking…' : 'Sign in'}
        </button>
        {error && (
          <p id="sign-in-error" class="error" role="alert">
            {error}
          </p>
        )}
      </form>
    </main>
  )
}
