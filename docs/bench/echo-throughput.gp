set terminal pngcairo size 1100,650 font 'DejaVu Sans,11'
set output 'echo-throughput.png'
set style data histograms
set style histogram errorbars gap 1 lw 1.5
set style fill solid 0.6 border -1
set boxwidth 0.8
set grid ytics
set yrange [0:*]
set offsets 0, 0, graph 0.08, 0
set xtics rotate by -30
unset key
set multiplot layout 1,2 title "echo, closed loop: 50 connections, 64-byte messages (median of 3 rounds; bars: min..max)"
set title 'throughput (messages/s, higher is better)'
plot 'echo-throughput.dat' index 0 using 2:3:4:xtic(1) lc rgb '#4477aa', '' index 0 using 0:2:(sprintf('%.0f', $2)) with labels offset 0,0.8
set title 'server CPU per message (ns, lower is better)'
plot 'echo-throughput.dat' index 1 using 2:3:4:xtic(1) lc rgb '#cc6677', '' index 1 using 0:2:(sprintf('%.0f', $2)) with labels offset 0,0.8
unset multiplot
