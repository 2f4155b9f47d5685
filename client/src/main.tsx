import { render } from 'preact'
import { App } from './App'
import { loadSession, me } from './session'
import './style.css'

const root = document.getElementById('app')!
loadSession()
  .catch(() => {
    me.value = null
  })
  .finally(() => render(<App />, root))
