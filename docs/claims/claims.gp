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
set output 'c4_wake_latency.png'
set title 'C4: wake-to-run latency by mechanism'
set xlabel 'percentile'
set ylabel 'latency, ns (log scale)'
set logscale y
set xtics ('10' 0, '25' 1, '50' 2, '75' 3, '90' 4, '99' 5, '99.9' 6)
plot 'c4.dat' using 0:2 with linespoints lw 2 title 'poll task wake', \
     'c4.dat' using 0:3 with linespoints lw 2 title 'push callback dispatch', \
     'c4.dat' using 0:4 with linespoints lw 2 title 'thread hand-off (condvar)', \
     'c4.dat' using 0:5 with linespoints lw 2 title 'signal (pthread_kill)'
unset logscale y
set xtics auto
set output 'c5_hog.png'
set title 'C5: echo latency while a task computes 50 ms, and the remedies'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set datafile missing '-'
set xlabel 'configuration'
set ylabel 'echo latency, ms (log scale)'
set logscale y
set yrange [0.01:1000]
set key top right
plot 'c5.dat' using 2:xtic(1) title 'push p50', \
     '' using 3 title 'push p99', \
     '' using 4 title 'poll p50', \
     '' using 5 title 'poll p99'
unset logscale y
set yrange [*:*]
set key top left
set style data lines
set output 'c15_split.png'
set multiplot layout 1,2 title 'C15: where the server spends an echo round trip'
set style data histograms
set style histogram rowstacked
set style fill solid 0.8 border -1
set boxwidth 0.7
set ylabel 'ns per round trip'
set yrange [0:*]
set key outside bottom center horizontal maxrows 2
set xtics font ',9'
set title 'simulator: no system call'
plot 'c15.dat' index 0 using 2:xtic(1) title 'engine', \
     '' index 0 using 3 title "mem's counting", \
     '' index 0 using 4 title 'malloc and free', \
     '' index 0 using 5 title 'reactor and network'
set title 'loopback: through the kernel'
plot 'c15.dat' index 1 using 2:xtic(1) title 'engine', \
     '' index 1 using 3 title "mem's counting", \
     '' index 1 using 4 title 'malloc and free', \
     '' index 1 using 5 title 'reactor (user space)', \
     '' index 1 using 7 title 'kernel'
unset multiplot
unset title
set yrange [*:*]
set key top left
set xtics font ''
set style data lines
