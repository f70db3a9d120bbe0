# hwgen's recording model of the Vivado Tcl commands a block-design script uses (not Vivado).
#
# Sourced by hwgen.fpga.bdcheck before the script under check. Each modelled command appends one
# JSON record (source line, command, arguments) to the log, and returns what the script needs to
# go on (object names, the IP catalog's VLNVs, run status). hwgen.fpga.bdcheck replays the log
# against its model of the IP and decides what Vivado would reject. A command that is not
# modelled stops the script: add it here (and to the replay) before a template uses it.
#
# Set by the caller before this file is sourced:
#   ::hwgen_model::log_path     file the records go to
#   ::hwgen_model::ipdefs       the IP catalog: a list of VLNVs
#   ::hwgen_model::board_parts  board parts whose board files are installed
#   ::hwgen_model::version      what `version -short` answers

namespace eval ::hwgen_model {
    variable log_fh ""
    variable proj_dir ""
    variable proj_name ""
    variable bd_name ""
    variable top ""
    variable cells {}
    variable bitstream_run ""
}

proc ::hwgen_model::json_str {s} {
    set map [list "\\" "\\\\" "\"" "\\\"" "\n" "\\n" "\r" "\\r" "\t" "\\t"]
    return "\"[string map $map $s]\""
}

proc ::hwgen_model::record {cmd argv} {
    variable log_fh
    variable log_path
    if {$log_fh eq ""} {
        set log_fh [open $log_path w]
    }
    set line 0
    for {set level [info frame]} {$level > 0} {incr level -1} {
        set f [info frame $level]
        if {[dict exists $f file] && [dict exists $f line]
            && [file tail [dict get $f file]] ne "vivado_model.tcl"} {
            set line [dict get $f line]
            break
        }
    }
    set items {}
    foreach a $argv {
        lappend items [json_str $a]
    }
    puts $log_fh "{\"line\": $line, \"cmd\": [json_str $cmd], \"args\": \[[join $items {, }]\]}"
    flush $log_fh
}

proc ::hwgen_model::opt {argv name {default ""}} {
    set i [lsearch -exact $argv $name]
    if {$i < 0} { return $default }
    return [lindex $argv [expr {$i + 1}]]
}

proc ::hwgen_model::positional {argv flags_with_value} {
    set out {}
    for {set i 0} {$i < [llength $argv]} {incr i} {
        set a [lindex $argv $i]
        if {[string index $a 0] eq "-" && ![string is double -strict $a]} {
            if {[lsearch -exact $flags_with_value $a] >= 0} { incr i }
            continue
        }
        lappend out $a
    }
    return $out
}

proc ::hwgen_model::path {name} {
    if {[string index $name 0] ne "/"} { return "/$name" }
    return $name
}

# ---- project
proc version {args} {
    ::hwgen_model::record version $args
    return $::hwgen_model::version
}
proc create_project {args} {
    ::hwgen_model::record create_project $args
    set pos [::hwgen_model::positional $args {-part}]
    set ::hwgen_model::proj_name [lindex $pos 0]
    set ::hwgen_model::proj_dir [file normalize [lindex $pos 1]]
    file mkdir $::hwgen_model::proj_dir
    return $::hwgen_model::proj_name
}
proc current_project {args} {
    ::hwgen_model::record current_project $args
    return $::hwgen_model::proj_name
}
proc current_fileset {args} {
    ::hwgen_model::record current_fileset $args
    return sources_1
}
proc get_board_parts {args} {
    ::hwgen_model::record get_board_parts $args
    set pos [::hwgen_model::positional $args {}]
    set pattern [expr {[llength $pos] ? [lindex $pos 0] : "*"}]
    set found {}
    foreach bp $::hwgen_model::board_parts {
        if {[string match $pattern $bp]} { lappend found $bp }
    }
    if {[lsearch -exact $args -latest_file_version] >= 0} {
        # one board part per vendor:board:component, the highest file version (UG835)
        set latest [dict create]
        foreach bp $found {
            set key [join [lrange [split $bp :] 0 end-1] :]
            set ver [lindex [split $bp :] end]
            if {![dict exists $latest $key] || [package vcompare $ver [dict get $latest $key]] > 0} {
                dict set latest $key $ver
            }
        }
        set found [lmap bp $found {
            set key [join [lrange [split $bp :] 0 end-1] :]
            if {[lindex [split $bp :] end] ne [dict get $latest $key]} { continue }
            set bp
        }]
    }
    return $found
}
proc add_files {args} {
    set out {}
    foreach a $args {
        if {[string index $a 0] eq "-"} {
            lappend out $a
        } else {
            foreach f $a { lappend out [file normalize $f] }
        }
    }
    ::hwgen_model::record add_files $out
    return ""
}
proc import_files {args} { return [add_files {*}$args] }
proc update_ip_catalog {args} { ::hwgen_model::record update_ip_catalog $args; return "" }
proc update_compile_order {args} { ::hwgen_model::record update_compile_order $args; return "" }
proc get_files {args} {
    ::hwgen_model::record get_files $args
    return [lindex [::hwgen_model::positional $args {-of_objects}] end]
}

# ---- block design
proc create_bd_design {args} {
    ::hwgen_model::record create_bd_design $args
    set ::hwgen_model::bd_name [lindex [::hwgen_model::positional $args {-dir}] 0]
    return $::hwgen_model::bd_name
}
proc current_bd_design {args} {
    ::hwgen_model::record current_bd_design $args
    return $::hwgen_model::bd_name
}
proc get_ipdefs {args} {
    ::hwgen_model::record get_ipdefs $args
    set filter [::hwgen_model::opt $args -filter]
    set pos [::hwgen_model::positional $args {-filter -of_objects}]
    set pattern [expr {[llength $pos] ? [lindex $pos 0] : "*"}]
    set found {}
    foreach v $::hwgen_model::ipdefs {
        lassign [split $v :] vendor library name version
        if {![string match $pattern $v]} { continue }
        if {$filter ne ""} {
            if {[regexp {^\s*NAME\s*==\s*"?([^"\s]+)"?\s*$} $filter -> want]} {
                if {$name ne $want} { continue }
            } elseif {[regexp {^\s*VLNV\s*=~\s*"?([^"\s]+)"?\s*$} $filter -> want]} {
                if {![string match $want $v]} { continue }
            } else {
                error "hwgen's Vivado model: get_ipdefs -filter supports NAME == x and VLNV =~ pattern, not {$filter}"
            }
        }
        lappend found $v
    }
    return $found
}
proc create_bd_cell {args} {
    ::hwgen_model::record create_bd_cell $args
    set name [lindex [::hwgen_model::positional $args {-type -vlnv -reference}] 0]
    lappend ::hwgen_model::cells [::hwgen_model::path $name]
    return [::hwgen_model::path $name]
}
proc get_bd_cells {args} {
    ::hwgen_model::record get_bd_cells $args
    set out {}
    foreach n [::hwgen_model::positional $args {-filter -of_objects}] {
        if {[lsearch -exact $::hwgen_model::cells [::hwgen_model::path $n]] >= 0} {
            lappend out [::hwgen_model::path $n]
        }
    }
    return $out
}
foreach cmd {get_bd_pins get_bd_intf_pins get_bd_ports get_bd_intf_ports get_bd_addr_spaces get_bd_addr_segs get_bd_nets} {
    proc $cmd {args} [string map [list CMD $cmd] {
        ::hwgen_model::record CMD $args
        return [lmap n [::hwgen_model::positional $args {-filter -of_objects}] {::hwgen_model::path $n}]
    }]
}
proc set_property {args} {
    ::hwgen_model::record set_property $args
    if {[lindex $args 0] eq "top"} { set ::hwgen_model::top [lindex $args 1] }
    return ""
}
proc get_property {args} {
    ::hwgen_model::record get_property $args
    set name [lindex [::hwgen_model::positional $args {}] 0]
    switch -- $name {
        DIRECTORY { return $::hwgen_model::proj_dir }
        STATUS { return "write_bitstream Complete!" }
        PROGRESS { return "100%" }
        default { return "" }
    }
}
proc apply_bd_automation {args} { ::hwgen_model::record apply_bd_automation $args; return "" }
proc connect_bd_net {args} { ::hwgen_model::record connect_bd_net $args; return "" }
proc connect_bd_intf_net {args} { ::hwgen_model::record connect_bd_intf_net $args; return "" }
proc create_bd_port {args} { ::hwgen_model::record create_bd_port $args; return "" }
proc create_bd_intf_port {args} { ::hwgen_model::record create_bd_intf_port $args; return "" }
proc assign_bd_address {args} { ::hwgen_model::record assign_bd_address $args; return "" }
proc exclude_bd_addr_seg {args} { ::hwgen_model::record exclude_bd_addr_seg $args; return "" }
proc validate_bd_design {args} { ::hwgen_model::record validate_bd_design $args; return "" }
proc save_bd_design {args} { ::hwgen_model::record save_bd_design $args; return "" }
proc regenerate_bd_layout {args} { ::hwgen_model::record regenerate_bd_layout $args; return "" }

proc ::hwgen_model::bd_file {} {
    variable proj_dir
    variable proj_name
    variable bd_name
    return "$proj_dir/$proj_name.srcs/sources_1/bd/$bd_name/$bd_name.bd"
}
proc generate_target {args} {
    ::hwgen_model::record generate_target $args
    # Vivado 2020.2 and later write the hand-off file under .gen, earlier releases under .srcs
    set dir "$::hwgen_model::proj_dir/$::hwgen_model::proj_name.gen/sources_1/bd/$::hwgen_model::bd_name/hw_handoff"
    file mkdir $dir
    set fh [open "$dir/$::hwgen_model::bd_name.hwh" w]
    puts $fh "<!-- hwgen's Vivado model: placeholder for the hardware hand-off file -->"
    close $fh
    return ""
}
proc make_wrapper {args} {
    ::hwgen_model::record make_wrapper $args
    set bd $::hwgen_model::bd_name
    return "$::hwgen_model::proj_dir/$::hwgen_model::proj_name.gen/sources_1/bd/$bd/hdl/${bd}_wrapper.v"
}

# ---- runs
proc get_runs {args} {
    ::hwgen_model::record get_runs $args
    return [::hwgen_model::positional $args {-filter}]
}
proc reset_run {args} { ::hwgen_model::record reset_run $args; return "" }
proc launch_runs {args} {
    ::hwgen_model::record launch_runs $args
    if {[::hwgen_model::opt $args -to_step] eq "write_bitstream"} {
        set ::hwgen_model::bitstream_run [lindex [::hwgen_model::positional $args {-to_step -jobs}] 0]
    }
    return ""
}
proc wait_on_run {args} {
    ::hwgen_model::record wait_on_run $args
    set run [lindex [::hwgen_model::positional $args {-timeout}] 0]
    if {$run eq $::hwgen_model::bitstream_run && $::hwgen_model::top ne ""} {
        set dir "$::hwgen_model::proj_dir/$::hwgen_model::proj_name.runs/$run"
        file mkdir $dir
        set fh [open "$dir/$::hwgen_model::top.bit" w]
        puts $fh "hwgen's Vivado model: placeholder bitstream"
        close $fh
    }
    return ""
}
proc close_project {args} { ::hwgen_model::record close_project $args; return "" }
