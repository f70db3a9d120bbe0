// HDL-side AXI4 memory model for hwgen's accelerator testbench (hand-written, simulation only).
// One burst in flight per direction plus one queued address, INCR bursts, DATA_W-aligned words.
// Python loads and reads the whole image through files ($readmemh / $writememh on a pulse), so
// no Python runs per clock. Backpressure: each handshake is withheld when an LFSR draws below
// bp_level/16 (0 = never, 15 = nearly always). Accesses outside [chk_lo, chk_hi) set a sticky
// flag (the accelerator must never issue them); accesses outside the memory answer SLVERR.
`default_nettype none
module hwgen_axi_mem #(
    parameter integer DATA_W = 64,
    parameter integer ADDR_W = 32,
    parameter integer ID_W = 1,
    parameter integer WORDS = 65536
) (
    input  wire              clk,
    input  wire              rst,
    input  wire              mem_load,
    input  wire              mem_dump,
    input  wire [31:0]       dump_lo,
    input  wire [31:0]       dump_hi,
    input  wire [ADDR_W-1:0] mem_base,
    input  wire [3:0]        bp_level,
    input  wire [31:0]       bp_seed,
    input  wire [ADDR_W-1:0] chk_lo,
    input  wire [ADDR_W-1:0] chk_hi,
    output reg               violation,
    output reg  [31:0]       read_beats,
    output reg  [31:0]       write_beats,
    input  wire [ID_W-1:0]   awid,
    input  wire [ADDR_W-1:0] awaddr,
    input  wire [7:0]        awlen,
    input  wire              awvalid,
    output wire              awready,
    input  wire [DATA_W-1:0] wdata,
    input  wire [DATA_W/8-1:0] wstrb,
    input  wire              wlast,
    input  wire              wvalid,
    output wire              wready,
    output reg  [ID_W-1:0]   bid,
    output reg  [1:0]        bresp,
    output reg               bvalid,
    input  wire              bready,
    input  wire [ID_W-1:0]   arid,
    input  wire [ADDR_W-1:0] araddr,
    input  wire [7:0]        arlen,
    input  wire              arvalid,
    output wire              arready,
    output reg  [ID_W-1:0]   rid,
    output reg  [DATA_W-1:0] rdata,
    output reg  [1:0]        rresp,
    output reg               rlast,
    output reg               rvalid,
    input  wire              rready
);
    localparam integer BYTES = DATA_W / 8;
    localparam integer SHIFT = $clog2(BYTES);

    initial begin
        if (DATA_W < 8 || (DATA_W & (DATA_W - 1)) != 0) begin
            $display("hwgen_axi_mem: DATA_W must be a power of two >= 8, not %0d", DATA_W);
            $finish;
        end
    end

    reg [DATA_W-1:0] mem [0:WORDS-1];

    always @(posedge clk) begin
        if (mem_load) $readmemh("hwgen_dram_in.hex", mem);
        if (mem_dump) $writememh("hwgen_dram_out.hex", mem, dump_lo, dump_hi);
    end

    // Five independent Galois LFSRs (one per channel) decide the stalls.
    reg [15:0] lfsr [0:4];
    wire [4:0] stall;
    genvar g;
    generate
        for (g = 0; g < 5; g = g + 1) begin : bp
            assign stall[g] = (lfsr[g][3:0] < bp_level);
            always @(posedge clk) begin
                if (rst) lfsr[g] <= bp_seed[15:0] ^ (16'h9e37 * (g + 1)) ^ {bp_seed[31:16]};
                else lfsr[g] <= {1'b0, lfsr[g][15:1]} ^ (lfsr[g][0] ? 16'hb400 : 16'h0000);
            end
        end
    endgenerate

    function in_mem(input [ADDR_W-1:0] a, input [7:0] len);
        reg [ADDR_W+8:0] lo, hi;
        begin
            lo = {9'd0, a};
            hi = lo + ((len + 1) << SHIFT);
            in_mem = (lo >= mem_base) && (hi <= {9'd0, mem_base} + (WORDS << SHIFT));
        end
    endfunction

    function in_chk(input [ADDR_W-1:0] a, input [7:0] len);
        reg [ADDR_W+8:0] lo, hi;
        begin
            lo = {9'd0, a};
            hi = lo + ((len + 1) << SHIFT);
            in_chk = (lo >= chk_lo) && (hi <= {9'd0, chk_hi});
        end
    endfunction

    // ---- reads -----------------------------------------------------------------------------
    reg              ar_q;            // a queued address
    reg [ADDR_W-1:0] ar_q_addr;
    reg [7:0]        ar_q_len;
    reg [ID_W-1:0]   ar_q_id;
    reg              r_act;           // a burst being returned
    reg [ADDR_W-1:0] r_addr;
    reg [7:0]        r_left;
    reg [ID_W-1:0]   r_id;
    reg              r_ok;
    assign arready = !ar_q && !stall[0];
    wire r_take = rvalid && rready;
    wire r_fire = r_act && (!rvalid || rready) && !stall[1];
    wire r_done = r_fire && r_left == 0;

    always @(posedge clk) begin
        if (rst) begin
            ar_q <= 0; r_act <= 0; rvalid <= 0; rlast <= 0; rresp <= 0; rid <= 0; rdata <= 0;
            read_beats <= 0; violation <= 0;
        end else begin
            if (arvalid && arready) begin
                ar_q <= 1; ar_q_addr <= araddr; ar_q_len <= arlen; ar_q_id <= arid;
                if (!in_chk(araddr, arlen)) violation <= 1;
            end
            if (r_take && !r_fire) rvalid <= 0;
            if (r_fire) begin
                rvalid <= 1;
                rid <= r_id;
                rlast <= (r_left == 0);
                rresp <= r_ok ? 2'b00 : 2'b10;
                rdata <= r_ok ? mem[(r_addr - mem_base) >> SHIFT] : {DATA_W{1'b0}};
                r_addr <= r_addr + BYTES;
                r_left <= r_left - 1;
                read_beats <= read_beats + 1;
            end
            if ((!r_act || r_done) && (ar_q && !(arvalid && arready))) begin
                r_act <= 1; r_addr <= ar_q_addr; r_left <= ar_q_len; r_id <= ar_q_id;
                r_ok <= in_mem(ar_q_addr, ar_q_len); ar_q <= 0;
            end else if (r_done) begin
                r_act <= 0;
            end
            if (awvalid && awready && !in_chk(awaddr, awlen)) violation <= 1;
        end
    end

    // ---- writes ----------------------------------------------------------------------------
    reg              aw_q;
    reg [ADDR_W-1:0] aw_q_addr;
    reg [7:0]        aw_q_len;
    reg [ID_W-1:0]   aw_q_id;
    reg              w_act;
    reg [ADDR_W-1:0] w_addr;
    reg [ID_W-1:0]   w_id;
    reg              w_ok;
    reg              w_bad;
    reg [7:0]        b_owed;
    reg [ID_W-1:0]   b_id_q [0:255];
    reg              b_bad_q [0:255];
    reg [7:0]        b_wr, b_rd;
    assign awready = !aw_q && !stall[2];
    assign wready = w_act && !stall[3];
    wire w_take = wvalid && wready;
    wire b_fire = (b_owed != 0) && (!bvalid || bready) && !stall[4];
    integer i;

    always @(posedge clk) begin
        if (rst) begin
            aw_q <= 0; w_act <= 0; bvalid <= 0; bresp <= 0; bid <= 0; b_owed <= 0;
            b_wr <= 0; b_rd <= 0; write_beats <= 0;
        end else begin
            if (awvalid && awready) begin
                aw_q <= 1; aw_q_addr <= awaddr; aw_q_len <= awlen; aw_q_id <= awid;
            end
            if (w_take) begin
                if (w_ok)
                    for (i = 0; i < BYTES; i = i + 1)
                        if (wstrb[i]) mem[(w_addr - mem_base) >> SHIFT][i*8 +: 8] <= wdata[i*8 +: 8];
                w_addr <= w_addr + BYTES;
                write_beats <= write_beats + 1;
            end
            if (!w_act || (w_take && wlast)) begin
                if (aw_q && !(awvalid && awready)) begin
                    w_act <= 1; w_addr <= aw_q_addr; w_id <= aw_q_id;
                    w_ok <= in_mem(aw_q_addr, aw_q_len); aw_q <= 0;
                end else begin
                    w_act <= 0;
                end
            end
            if (w_take && wlast) begin
                b_id_q[b_wr] <= w_id; b_bad_q[b_wr] <= !w_ok; b_wr <= b_wr + 1;
            end
            if (bvalid && bready && !b_fire) bvalid <= 0;
            if (b_fire) begin
                bvalid <= 1; bid <= b_id_q[b_rd]; bresp <= b_bad_q[b_rd] ? 2'b10 : 2'b00;
                b_rd <= b_rd + 1;
            end
            b_owed <= b_owed + ((w_take && wlast) ? 1 : 0) - (b_fire ? 1 : 0);
        end
    end
endmodule
`default_nettype wire
