set terminal pngcairo size 1100,650 font 'DejaVu Sans,11'
set output 'fanout.png'
set datafile missing '-'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.6 border -1
set grid ytics
set yrange [0:*]
set xtics rotate by -30
set key top right
set multiplot layout 1,2 title "fanout: 4 sinks, 64 KiB chunks, window 4 (median of 3 rounds)"
set title 'delivered MB/s, 32 MiB file (higher is better)'
plot 'fanout.dat' using 2:xtic(1) title 'tcp' lc rgb '#4477aa', '' using 3 title 'file' lc rgb '#66ccee'
set key top left
set yrange [0:437]
set title 'peak heap KiB, every size (bound: 336 KiB)'
plot 'fanout.dat' using 4:xtic(1) title 'tcp' lc rgb '#aa3377', '' using 5 title 'file' lc rgb '#ee6677', 336.0 with lines lw 2 dt 2 lc rgb 'black' title 'bound'
unset multiplot
