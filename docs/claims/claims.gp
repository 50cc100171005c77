# Drawn by `pushpoll claims --plot`: one PNG per figure.
set terminal pngcairo noenhanced size 900,560 font 'DejaVu Sans,11'
set grid
set key top left
set output 'c1_allocs.png'
set title 'C1: heap allocations per operation against chain depth'
set xlabel 'depth D (nested sequences)'
set logscale x 2
set ylabel 'allocations per operation'
set y2label 'bytes per operation'
set ytics nomirror
set y2tics
plot 'c1.dat' using 1:2 with linespoints lw 2 title 'push: allocations', \
     'c1.dat' using 1:3 with linespoints lw 2 title 'poll: allocations', \
     'c1.dat' using 1:4 axes x1y2 with linespoints dt 2 title 'push: bytes', \
     'c1.dat' using 1:5 axes x1y2 with linespoints dt 2 title 'poll: bytes'
unset logscale x
unset y2tics
unset y2label
set ytics mirror
set output 'c2_wake.png'
set title 'C2: the cost of one wake against chain depth'
set xlabel 'depth D (nested sequences)'
set logscale x 2
set ylabel 'instructions per wake'
set y2label 'ns per wake (median)'
set ytics nomirror
set y2tics
set yrange [0:*]
set y2range [0:*]
set key bottom right
plot 'c2.dat' using 1:2 with linespoints lw 2 title 'push: instructions', \
     'c2.dat' using 1:3 with linespoints lw 2 title 'poll: instructions', \
     'c2.dat' using 1:4 axes x1y2 with linespoints dt 2 title 'push: ns', \
     'c2.dat' using 1:5 axes x1y2 with linespoints dt 2 title 'poll: ns'
unset logscale x
unset y2tics
unset y2label
set ytics mirror
set yrange [*:*]
set y2range [*:*]
set key top left
