import type { ComponentChildren, JSX } from 'preact'
import { navigate } from '../router'

type Props = { href: string; children: ComponentChildren } & Omit<JSX.HTMLAttributes<HTMLAnchorElement>, 'href'>

/** An in-app link: a real `<a href>` (keyboard, middle click) that routes without reloading. */
export function Link({ href, children, ...rest }: Props) {
  return (
    <a
      {...rest}
      href={href}
      onClick={(event) => {
        if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return
        event.preventDefault()
        navigate(href)
      }}
    >
      {children}
    </a>
  )
}
