"""A full-screen (curses) program with a bug: press `b` to trigger it.

curses restores the main screen before Python prints the traceback, the crash is
healed, and the restarted program takes the screen again. While the fix runs over
a full-screen program, otorepair's panel takes the screen and the program
repaints afterwards. Press `q` to quit.
    otorepair "python3 examples/fullscreen/app.py"
"""

import curses


def draw(screen, counter):
    screen.erase()
    screen.addstr(0, 0, "otorepair full-screen example")
    screen.addstr(2, 0, f"ticks: {counter}")
    screen.addstr(4, 0, "b: trigger the bug   q: quit")
    screen.refresh()


def main(screen):
    curses.curs_set(0)
    screen.timeout(500)
    counter = 0
    while True:
        draw(screen, counter)
        key = screen.getch()
        if key == ord("q"):
            return
        if key == ord("b"):
            ratio = counter / (counter - counter)  # the bug: division by zero
            screen.addstr(6, 0, f"ratio {ratio}")
        counter += 1


curses.wrapper(main)
