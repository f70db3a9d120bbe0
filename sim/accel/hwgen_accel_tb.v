// Testbench top for a generated hwgen accelerator (hand-written, simulation only).
// The accelerator module name comes from the HWGEN_ACCEL_TOP macro (-DHWGEN_ACCEL_TOP=...), its
// widths from the parameters. DRAM is the HDL-side model hwgen_axi_mem unless ext_mem is set,
// in which case the m_axi__* ports of this module carry the accelerator's AXI4 master to a
// cocotbext-axi AxiRam. The AXI4-Lite control port s_axil__* is driven from cocotb.
`default_nettype none
`ifndef HWGEN_ACCEL_TOP
`define HWGEN_ACCEL_TOP hwgen_accel
`endif
module hwgen_accel_tb #(
    parameter integer DATA_W = 64,
    parameter integer ADDR_W = 32,
    parameter integer AXIL_ADDR_W = 8,
    parameter integer WORDS = 65536
) (
    input  wire                   clk,
    input  wire                   rst,
    output wire                   irq,
    // memory model control
    input  wire                   ext_mem,
    input  wire                   mem_load,
    input  wire                   mem_dump,
    input  wire [31:0]            dump_lo,
    input  wire [31:0]            dump_hi,
    input  wire [ADDR_W-1:0]      mem_base,
    input  wire [3:0]             bp_level,
    input  wire [31:0]            bp_seed,
    input  wire [ADDR_W-1:0]      chk_lo,
    input  wire [ADDR_W-1:0]      chk_hi,
    output wire                   violation,
    output wire [31:0]            read_beats,
    output wire [31:0]            write_beats,
    // AXI4-Lite control (from cocotb)
    input  wire [AXIL_ADDR_W-1:0] s_axil__awaddr,
    input  wire [2:0]             s_axil__awprot,
    input  wire                   s_axil__awvalid,
    output wire                   s_axil__awready,
    input  wire [31:0]            s_axil__wdata,
    input  wire [3:0]             s_axil__wstrb,
    input  wire                   s_axil__wvalid,
    output wire                   s_axil__wready,
    output wire [1:0]             s_axil__bresp,
    output wire                   s_axil__bvalid,
    input  wire                   s_axil__bready,
    input  wire [AXIL_ADDR_W-1:0] s_axil__araddr,
    input  wire [2:0]             s_axil__arprot,
    input  wire                   s_axil__arvalid,
    output wire                   s_axil__arready,
    output wire [31:0]            s_axil__rdata,
    output wire [1:0]             s_axil__rresp,
    output wire                   s_axil__rvalid,
    input  wire                   s_axil__rready,
    // AXI4 master, exported for an external (cocotbext-axi) memory when ext_mem = 1
    output wire [0:0]             m_axi__awid,
    output wire [ADDR_W-1:0]      m_axi__awaddr,
    output wire [7:0]             m_axi__awlen,
    output wire [2:0]             m_axi__awsize,
    output wire [1:0]             m_axi__awburst,
    output wire                   m_axi__awvalid,
    input  wire                   m_axi__awready,
    output wire [DATA_W-1:0]      m_axi__wdata,
    output wire [DATA_W/8-1:0]    m_axi__wstrb,
    output wire                   m_axi__wlast,
    output wire                   m_axi__wvalid,
    input  wire                   m_axi__wready,
    input  wire [0:0]             m_axi__bid,
    input  wire [1:0]             m_axi__bresp,
    input  wire                   m_axi__bvalid,
    output wire                   m_axi__bready,
    output wire [0:0]             m_axi__arid,
    output wire [ADDR_W-1:0]      m_axi__araddr,
    output wire [7:0]             m_axi__arlen,
    output wire [2:0]             m_axi__arsize,
    output wire [1:0]             m_axi__arburst,
    output wire                   m_axi__arvalid,
    input  wire                   m_axi__arready,
    input  wire [0:0]             m_axi__rid,
    input  wire [DATA_W-1:0]      m_axi__rdata,
    input  wire [1:0]             m_axi__rresp,
    input  wire                   m_axi__rlast,
    input  wire                   m_axi__rvalid,
    output wire                   m_axi__rready
);
    wire i_awready, i_wready, i_bvalid, i_arready, i_rvalid, i_rlast;
    wire [0:0] i_bid, i_rid;
    wire [1:0] i_bresp, i_rresp;
    wire [DATA_W-1:0] i_rdata;
    wire [3:0] awcache, arcache;
    wire [2:0] awprot, arprot;

    `HWGEN_ACCEL_TOP accel (
        .clk(clk), .rst(rst), .irq(irq),
        .s_axil__awaddr(s_axil__awaddr), .s_axil__awprot(s_axil__awprot),
        .s_axil__awvalid(s_axil__awvalid), .s_axil__awready(s_axil__awready),
        .s_axil__wdata(s_axil__wdata), .s_axil__wstrb(s_axil__wstrb),
        .s_axil__wvalid(s_axil__wvalid), .s_axil__wready(s_axil__wready),
        .s_axil__bresp(s_axil__bresp), .s_axil__bvalid(s_axil__bvalid),
        .s_axil__bready(s_axil__bready),
        .s_axil__araddr(s_axil__araddr), .s_axil__arprot(s_axil__arprot),
        .s_axil__arvalid(s_axil__arvalid), .s_axil__arready(s_axil__arready),
        .s_axil__rdata(s_axil__rdata), .s_axil__rresp(s_axil__rresp),
        .s_axil__rvalid(s_axil__rvalid), .s_axil__rready(s_axil__rready),
        .m_axi__awid(m_axi__awid), .m_axi__awaddr(m_axi__awaddr), .m_axi__awlen(m_axi__awlen),
        .m_axi__awsize(m_axi__awsize), .m_axi__awburst(m_axi__awburst),
        .m_axi__awcache(awcache), .m_axi__awprot(awprot),
        .m_axi__awvalid(m_axi__awvalid),
        .m_axi__awready(ext_mem ? m_axi__awready : i_awready),
        .m_axi__wdata(m_axi__wdata), .m_axi__wstrb(m_axi__wstrb), .m_axi__wlast(m_axi__wlast),
        .m_axi__wvalid(m_axi__wvalid), .m_axi__wready(ext_mem ? m_axi__wready : i_wready),
        .m_axi__bid(ext_mem ? m_axi__bid : i_bid), .m_axi__bresp(ext_mem ? m_axi__bresp : i_bresp),
        .m_axi__bvalid(ext_mem ? m_axi__bvalid : i_bvalid), .m_axi__bready(m_axi__bready),
        .m_axi__arid(m_axi__arid), .m_axi__araddr(m_axi__araddr), .m_axi__arlen(m_axi__arlen),
        .m_axi__arsize(m_axi__arsize), .m_axi__arburst(m_axi__arburst),
        .m_axi__arcache(arcache), .m_axi__arprot(arprot),
        .m_axi__arvalid(m_axi__arvalid),
        .m_axi__arready(ext_mem ? m_axi__arready : i_arready),
        .m_axi__rid(ext_mem ? m_axi__rid : i_rid), .m_axi__rdata(ext_mem ? m_axi__rdata : i_rdata),
        .m_axi__rresp(ext_mem ? m_axi__rresp : i_rresp),
        .m_axi__rlast(ext_mem ? m_axi__rlast : i_rlast),
        .m_axi__rvalid(ext_mem ? m_axi__rvalid : i_rvalid), .m_axi__rready(m_axi__rready)
    );

    hwgen_axi_mem #(.DATA_W(DATA_W), .ADDR_W(ADDR_W), .ID_W(1), .WORDS(WORDS)) mem (
        .clk(clk), .rst(rst), .mem_load(mem_load), .mem_dump(mem_dump), .dump_lo(dump_lo), .dump_hi(dump_hi), .mem_base(mem_base),
        .bp_level(bp_level), .bp_seed(bp_seed), .chk_lo(chk_lo), .chk_hi(chk_hi),
        .violation(violation), .read_beats(read_beats), .write_beats(write_beats),
        .awid(m_axi__awid), .awaddr(m_axi__awaddr), .awlen(m_axi__awlen),
        .awvalid(m_axi__awvalid && !ext_mem), .awready(i_awready),
        .wdata(m_axi__wdata), .wstrb(m_axi__wstrb), .wlast(m_axi__wlast),
        .wvalid(m_axi__wvalid && !ext_mem), .wready(i_wready),
        .bid(i_bid), .bresp(i_bresp), .bvalid(i_bvalid), .bready(m_axi__bready && !ext_mem),
        .arid(m_axi__arid), .araddr(m_axi__araddr), .arlen(m_axi__arlen),
        .arvalid(m_axi__arvalid && !ext_mem), .arready(i_arready),
        .rid(i_rid), .rdata(i_rdata), .rresp(i_rresp), .rlast(i_rlast),
        .rvalid(i_rvalid), .rready(m_axi__rready && !ext_mem)
    );
endmodule
`default_nettype wire
