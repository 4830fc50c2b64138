impl :: bincode :: Encode for Discount
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        match self
        {
            Self ::Percent { bps }
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (0u32), encoder) ?
                ; :: bincode :: Encode :: encode(bps, encoder) ?; core ::
                result :: Result :: Ok(())
            }, Self ::Fixed { amount_minor }
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (1u32), encoder) ?
                ; :: bincode :: Encode :: encode(amount_minor, encoder) ?;
                core :: result :: Result :: Ok(())
            },
        }
    }
}